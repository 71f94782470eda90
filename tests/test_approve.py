"""Approve: the tool runs with the proposed arguments and the agent's answer lands in the thread."""

from __future__ import annotations

import threading
import time

import pytest

from bot.answering import ANSWERING
from bot.app import AFTER_ACK_YIELD_SECONDS
from bot.ids import ActionId
from tests.local import Local
from tests.stack import wait_until


def test_approve_runs_the_tool_and_posts_the_answer_in_the_thread(local: Local) -> None:
    approval = local.start_run("Refund order #42 for $250")

    response = local.click("U0APPROVER", ActionId.APPROVE, approval)

    assert response.status == 200
    assert "Refunded $250.00 for order #42" in local.outcome(approval)


def test_approved_message_loses_its_buttons_and_names_the_approver(local: Local) -> None:
    approval = local.start_run("Refund order #43 for $20")

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    update = local.wait_for_update(approval)
    blocks = update.params["blocks"]
    assert not [b for b in blocks if b["type"] == "actions"]
    assert any("Approved* by <@U0APPROVER>" in str(b) for b in blocks)
    decided = local.store.requests.get(approval.id)
    assert decided.status == "approved" and decided.action.decision and decided.action.decision.decided_by == "U0APPROVER"


def test_a_click_is_acked_once_its_decision_is_committed_without_waiting_for_the_queue(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    approval = local.start_run("Refund order #44 for $30")
    enqueue, queue_answers = local.queue.enqueue_resume, threading.Event()
    at_ack: list[str] = []

    def slow_enqueue(approval_id: str) -> bool:
        queue_answers.wait(10)
        return enqueue(approval_id)

    monkeypatch.setattr(local.queue, "enqueue_resume", slow_enqueue)

    response = local.click("U0APPROVER", ActionId.APPROVE, approval)
    at_ack.append(local.store.requests.get(approval.id).status)
    queue_answers.set()

    assert response.status == 200 and response.elapsed < 1.5  # Slack's timeout is 3 s; the bot's fallback answer too
    assert at_ack == ["approved"]
    assert "Refunded $30.00 for order #44" in local.outcome(approval)


def test_a_clicks_resume_is_handed_to_the_queue_once_the_bot_has_no_other_request_to_answer(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    approval = local.start_run("Refund order #48 for $70")
    enqueue, enqueued = local.queue.enqueue_resume, []

    def timed_enqueue(approval_id: str) -> bool:
        enqueued.append(time.monotonic())
        return enqueue(approval_id)

    monkeypatch.setattr(local.queue, "enqueue_resume", timed_enqueue)

    with ANSWERING.request():  # another click of a burst, still being answered
        response = local.click("U0APPROVER", ActionId.APPROVE, approval)
        time.sleep(0.3)
        while_answering = list(enqueued)
        answered_at = time.monotonic()

    assert response.status == 200 and while_answering == []
    assert "Refunded $70.00 for order #48" in local.outcome(approval)
    # The in-process worker may have delivered the owed decision first: the hand-over still comes, after.
    wait_until(lambda: enqueued, 5, "the click's resume handed to the queue")
    assert enqueued[0] >= answered_at


def _resumes_held(local: Local, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Hold the agent's resume until the returned event is set: the worker redraws the message too."""
    resumed, resume = threading.Event(), local.runtime.resume
    monkeypatch.setattr(local.runtime, "resume", lambda approval_id: resumed.wait(10) and resume(approval_id))
    return resumed


def _updates_of(local: Local, approval_ts: str | None) -> list[object]:
    return [c for c in local.slack.calls_to("chat.update") if c.params.get("ts") == approval_ts]


def test_a_clicks_message_update_waits_while_the_bot_is_still_answering_other_requests(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    approval = local.start_run("Refund order #45 for $40")
    resumed = _resumes_held(local, monkeypatch)

    with ANSWERING.request():  # another click, its decision still being recorded
        response = local.click("U0APPROVER", ActionId.APPROVE, approval)
        time.sleep(0.3)
        while_answering = _updates_of(local, local.ts_of(approval))
    update = local.wait_for_update(approval)
    resumed.set()

    assert response.status == 200
    assert while_answering == []
    assert any("Approved* by <@U0APPROVER>" in str(b) for b in update.params["blocks"])
    assert "Refunded $40.00 for order #45" in local.outcome(approval)


def test_each_clicks_message_is_updated_within_a_second_of_its_click_however_busy_the_bot_is(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = local.start_run("Refund order #46 for $50"), local.start_run("Refund order #47 for $60")
    resumed = _resumes_held(local, monkeypatch)

    with ANSWERING.request():  # requests to answer all along
        started = time.monotonic()
        local.click("U0APPROVER", ActionId.APPROVE, first)
        local.click("U0APPROVER", ActionId.APPROVE, second)
        updates = [local.wait_for_update(first), local.wait_for_update(second)]
    resumed.set()

    # Each waited while the bot had requests to answer, for at most the bound counted from its own click: the second
    # did not wait it out again after the first (it would have come a whole bound after it). The emulator times each
    # call on the same monotonic clock.
    first_at, second_at = (update.time for update in updates)
    assert first_at - started >= AFTER_ACK_YIELD_SECONDS
    assert second_at - first_at < AFTER_ACK_YIELD_SECONDS
    assert all(any("Approved* by <@U0APPROVER>" in str(b) for b in u.params["blocks"]) for u in updates)
