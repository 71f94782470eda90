"""No agent waits forever: every request has a deadline, and at it a defined outcome."""

from __future__ import annotations

import threading
import time

from bot.ids import ActionId
from tests.stack import Stack, wait_until


def _settled(stack: Stack, approval_id: str, timeout: float = 15):
    return wait_until(lambda: (a := stack.store.get(approval_id)) and not a.is_pending and a, timeout, "the deadline")


def test_request_nobody_decides_is_rejected_at_its_deadline_and_the_agent_told(stack: Stack) -> None:
    approval = stack.start_run("Refund order #180 for $11")
    assert "Decide by <!date^" in str(stack.message(approval)["blocks"])

    expired = _settled(stack, approval.id)

    assert expired.status == "expired"
    assert expired.action.decision.decided_by == "countersign:deadline"
    outcome = stack.outcome(approval)
    assert "I did not refund order #180" in outcome and "expired" in outcome
    assert "*Expired*" in str(stack.wait_for_update(approval).params["blocks"])


def test_soft_request_goes_ahead_at_its_deadline(stack: Stack) -> None:
    approval = stack.start_run("Refund order #181 for $12")

    assert _settled(stack, approval.id).status == "approved"
    assert "Refunded $12.00 for order #181" in stack.outcome(approval)
    assert "Approved at its deadline" in str(stack.wait_for_update(approval).params["blocks"])


def test_two_stage_escalation_then_reject(stack: Stack) -> None:
    oncall = stack.slack.add_usergroup("oncall", ["U0ONCALL1"])
    approval = stack.start_run("Refund order #182 for $13")

    first = stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0ESCALATE1", timeout=15)
    mention = stack.slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("thread_ts") == first.response["ts"], timeout=15
    )
    assert f"<!subteam^{oncall}>: nobody decided this within 2s" in mention.params["text"]
    stack.wait_for_update(approval, lambda c: "Escalated to <#C0ESCALATE1>" in str(c.params["blocks"]))
    stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0ESCALATE2", timeout=15)

    expired = _settled(stack, approval.id, timeout=20)

    assert expired.status == "expired" and expired.stage == 2
    assert [e.channel for e in expired.escalations] == ["C0ESCALATE1", "C0ESCALATE2"]
    assert "I did not refund order #182" in stack.outcome(approval)


def test_approval_on_an_escalated_message_decides_the_request(stack: Stack) -> None:
    approval = stack.start_run("Refund order #183 for $13")
    stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0ESCALATE1", timeout=15)
    escalated = wait_until(lambda: (a := stack.store.get(approval.id)).escalations and a.escalations[0].message_ts and a)

    stack.driver.block_action(
        "U0ONCALL",
        ActionId.APPROVE,
        f'{{"approval_id":"{approval.id}"}}',
        channel_id="C0ESCALATE1",
        container_message_ts=escalated.escalations[0].message_ts,
    )

    assert "Refunded $13.00 for order #183" in stack.outcome(approval)


def test_decision_racing_the_deadline_exactly_one_wins(stack: Stack) -> None:
    approval = stack.start_run("Refund order #184 for $14")
    wait_until(lambda: time.time() >= approval.deadline_at.timestamp() - 0.05, 10, "the deadline to near")
    clicks = [threading.Thread(target=stack.click, args=(f"U0RACE{n}", ActionId.APPROVE, approval)) for n in range(3)]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()

    decided = _settled(stack, approval.id)
    outcome = stack.outcome(approval)

    winners = [e for e in stack.store.audit_events(approval.id) if e.event in ("decided", "deadline")]
    assert len(winners) == 1
    if decided.status == "approved":
        assert "Refunded $14.00 for order #184" in outcome
    else:
        assert decided.status == "expired" and "I did not refund order #184" in outcome


def test_click_after_the_deadline_changes_nothing_and_says_so(stack: Stack) -> None:
    approval = stack.start_run("Refund order #185 for $11")
    wait_until(lambda: time.time() > approval.deadline_at.timestamp(), 10, "the deadline to pass")

    stack.click("U0TOOLATE", ActionId.APPROVE, approval)

    text = stack.ephemeral_to("U0TOOLATE")[0]
    assert "deadline passed" in text or "Expired" in text
    assert _settled(stack, approval.id).status == "expired"


def test_deadline_fires_after_a_worker_restart(stack: Stack) -> None:
    approval = stack.start_run("Refund order #186 for $15")
    stack.stop_worker()
    wait_until(lambda: time.time() > approval.deadline_at.timestamp() + 1, 15, "the deadline to pass")

    stack.start_worker()

    assert _settled(stack, approval.id).status == "expired"


def test_deadline_fires_after_redis_lost_its_scheduled_jobs(stack: Stack) -> None:
    approval = stack.start_run("Refund order #187 for $16")
    stack.stop_worker()
    stack.queue.queue.connection.flushall()

    stack.start_worker()

    assert _settled(stack, approval.id, timeout=20).status == "expired"


def test_reminder_is_posted_in_the_thread_before_the_deadline(stack: Stack) -> None:
    approval = stack.start_run("Refund order #188 for $17")

    stack.slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") == approval.message_ts and "needs a decision by" in str(c.params.get("text")),
        timeout=15,
    )

    assert stack.store.get(approval.id).is_pending  # reminded before, not at, the deadline
