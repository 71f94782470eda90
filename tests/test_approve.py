"""Approve: the tool runs with the proposed arguments and the agent's answer lands in the thread."""

from __future__ import annotations

import threading

import pytest

from bot.ids import ActionId
from tests.local import Local


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
    decided = local.store.get(approval.id)
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
    at_ack.append(local.store.get(approval.id).status)
    queue_answers.set()

    assert response.status == 200 and response.elapsed < 1.5  # Slack's timeout is 3 s; the bot's fallback answer too
    assert at_ack == ["approved"]
    assert "Refunded $30.00 for order #44" in local.outcome(approval)
