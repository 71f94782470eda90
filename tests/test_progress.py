"""A run's steps appear as one progress message in its thread, updated as the run goes on."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from approvals.models import ApprovalRequest
from bot.ids import ActionId
from sandbox.emulator import Call
from tests.local import Local


def _progress_post(local: Local, approval: ApprovalRequest) -> Call:
    return local.slack.wait_for(
        "chat.postMessage",
        lambda call: call.params.get("thread_ts") == approval.message_ts and call.params["text"].startswith(":gear:"),
    )


def test_what_led_to_a_request_is_in_its_thread(local: Local) -> None:
    approval = local.start_run("Refund order #330 for $250", agent="payments_effects")

    text = _progress_post(local, approval).params["text"]

    assert text.startswith(":gear: *What the agent did so far*")
    assert '1. `lookup_order` `{"order_id": "330"}` :white_check_mark: Order #330: delivered, paid $500.00.' in text
    assert "2. `refund`" in text and "not run yet" in text


def test_the_progress_message_is_updated_with_what_the_approved_call_did(local: Local) -> None:
    approval = local.start_run("Refund order #331 for $250", agent="payments_effects")
    posted = _progress_post(local, approval)

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    update = local.slack.wait_for(
        "chat.update",
        lambda call: call.params.get("ts") == posted.response["ts"] and "Refunded $250.00" in call.params["text"],
        timeout=20,
    )
    assert (
        "2. `refund`" in update.params["text"] and ":white_check_mark: Refunded $250.00 for order #331" in update.params["text"]
    )
    assert (
        len(
            [
                c
                for c in local.slack.calls_to("chat.postMessage")
                if c.params["text"].startswith(":gear:") and c.params.get("thread_ts") == approval.message_ts
            ]
        )
        == 1
    )


def test_an_agent_registered_without_progress_posts_none(local: Local) -> None:
    approval = local.start_run("Refund order #332 for $250", agent="payments_quiet")

    local.click("U0APPROVER", ActionId.APPROVE, approval)
    local.outcome(approval)

    thread = local.slack.thread_replies(approval.channel or "", approval.message_ts or "")
    assert not [m for m in thread if m["text"].startswith(":gear:")]


def test_the_progress_message_reads_the_run_once_a_job_once_the_run_has_a_thread(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_by_progress: list[str] = []
    get_run = local.store.get_run

    def counted(thread_id: str, conn: Any = None) -> Any:
        if sys._getframe(1).f_code.co_filename.endswith("progress.py"):
            read_by_progress.append(thread_id)
        return get_run(thread_id, conn)

    monkeypatch.setattr(local.store, "get_run", counted)
    approval = local.start_run("Refund order #333 for $250", agent="payments_effects")
    local.click("U0APPROVER", ActionId.APPROVE, approval)

    # The first job: once while the run has no thread (its steps then skip the read), once after its request
    # made the thread. The resume job: once. Every step read it before (eight times in this run).
    local.slack.wait_for("chat.update", lambda call: "Refunded $250.00 for order #333" in str(call.params.get("text")))
    assert len(read_by_progress) == 3
