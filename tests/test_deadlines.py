"""No agent waits forever: every request has a deadline, and at it a defined outcome.

Most of these run in the test process with the clock moved to the deadline (tests/local.py), each
naming the policy rule it uses; the last ones go through the real worker, one on a real deadline.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

from sqlalchemy import update

from approvals.models import DEADLINE_DECIDER, Decision, DecisionType
from approvals.policies import Rule
from approvals.tables import approvals
from bot.ids import ActionId
from tests.local import Local
from tests.stack import Stack, wait_until
from worker.backoff import LASTING_BACKOFF
from worker.deadlines import DeadlineService

QUICK_EXPIRY = Rule(name="quick expiry", tool="refund", timeout="1h")
SOFT_GO_AHEAD = Rule(name="soft go-ahead", tool="refund", level="soft", timeout="1h")
ESCALATING = Rule(
    name="escalating",
    tool="refund",
    timeout="1h",
    on_timeout="escalate",
    escalation=[{"channel": "C0ESCALATE1", "mention": "@oncall", "timeout": "2h"}, {"channel": "C0ESCALATE2", "timeout": "3h"}],
    final_on_timeout="reject",
)
REMINDED = Rule(name="reminded", tool="refund", timeout="1h", reminders=["10m"])
ESCALATING_WHERE_REFUSED = Rule(
    name="escalating where Slack refuses",
    tool="refund",
    timeout="1h",
    on_timeout="escalate",
    escalation=[{"channel": "C0ESCREFUSED", "timeout": "2h"}],
)

SECOND = timedelta(seconds=1)


def test_request_nobody_decides_is_rejected_at_its_deadline_and_the_agent_told(local: Local) -> None:
    local.policies(QUICK_EXPIRY)
    approval = local.start_run("Refund order #180 for $250")
    assert "Decide by <!date^" in str(local.message(approval)["blocks"])
    assert approval.deadline_at is not None

    local.fire_due(approval.deadline_at + SECOND)

    expired = local.store.requests.get(approval.id)
    assert expired.status == "expired" and expired.action.decision.decided_by == DEADLINE_DECIDER
    outcome = local.outcome(approval)
    assert "I did not refund order #180" in outcome and "expired" in outcome
    assert "*Expired*" in str(local.wait_for_update(approval, lambda c: "*Expired*" in str(c.params["blocks"])).params)


def test_nothing_fires_before_the_deadline(local: Local) -> None:
    local.policies(QUICK_EXPIRY)
    approval = local.start_run("Refund order #181 for $250")
    assert approval.deadline_at is not None

    assert approval.id not in local.fire_due(approval.deadline_at - SECOND)

    assert local.store.requests.get(approval.id).is_pending


def test_soft_request_goes_ahead_at_its_deadline(local: Local) -> None:
    local.policies(SOFT_GO_AHEAD)
    approval = local.start_run("Refund order #182 for $250")
    assert approval.deadline_at is not None

    local.fire_due(approval.deadline_at + SECOND)

    assert local.store.requests.get(approval.id).status == "approved"
    assert "Refunded $250.00 for order #182" in local.outcome(approval)
    local.wait_for_update(approval, lambda c: "Approved at its deadline" in str(c.params["blocks"]))


def test_two_stage_escalation_then_reject(local: Local) -> None:
    oncall = local.slack.add_usergroup("oncall", ["U0ONCALL1"])
    local.policies(ESCALATING)
    approval = local.start_run("Refund order #183 for $250")
    assert approval.deadline_at is not None

    local.fire_due(approval.deadline_at + SECOND)

    first = local.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0ESCALATE1")
    mention = local.slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == first.response["ts"])
    assert f"<!subteam^{oncall}>: nobody decided this within 1h" in mention.params["text"]
    local.wait_for_update(approval, lambda c: "Escalated to <#C0ESCALATE1>" in str(c.params["blocks"]))
    stage_one = local.store.requests.get(approval.id)
    assert stage_one.is_pending and stage_one.stage == 1 and stage_one.deadline_at is not None

    local.fire_due(stage_one.deadline_at + SECOND)
    local.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0ESCALATE2")
    stage_two = local.store.requests.get(approval.id)
    assert stage_two.stage == 2 and stage_two.deadline_at is not None

    local.fire_due(stage_two.deadline_at + SECOND)

    expired = local.store.requests.get(approval.id)
    assert expired.status == "expired" and [e.channel for e in expired.escalations] == ["C0ESCALATE1", "C0ESCALATE2"]
    assert "I did not refund order #183" in local.outcome(approval)


def _escalation_posts(local: Local) -> list[dict]:
    """The escalated request's posts in its escalation channel (not the line in its thread that says why)."""
    posts = local.slack.calls_to("chat.postMessage")
    return [c.response for c in posts if c.params.get("channel") == "C0ESCREFUSED" and not c.params.get("thread_ts")]


def test_an_escalation_slack_refused_is_tried_again_by_no_worker_before_its_backoff(local: Local) -> None:
    local.policies(ESCALATING_WHERE_REFUSED)
    approval = local.start_run("Refund order #191 for $250")
    assert approval.deadline_at is not None
    local.slack.fail("chat.postMessage", "not_in_channel", channel="C0ESCREFUSED")  # the app is not in it yet
    due = approval.deadline_at + SECOND

    local.fire_due(due)
    retry_at = local.store.due.next_due()  # so the dispatchers fire nothing before then
    assert [post["ok"] for post in _escalation_posts(local)] == [False]
    assert retry_at is not None and timedelta(0) <= retry_at - (due + timedelta(seconds=LASTING_BACKOFF[0])) < SECOND

    another_worker = DeadlineService(local.deadlines.deciding, local.deadlines.front_end, clock=local.clock)
    another_worker.fire_due(retry_at - SECOND)
    assert [post["ok"] for post in _escalation_posts(local)] == [False]

    another_worker.fire_due(retry_at)
    assert [post["ok"] for post in _escalation_posts(local)] == [False, True]
    assert local.store.due.unshown_escalations(retry_at) == []


def test_approval_on_an_escalated_message_decides_the_request(local: Local) -> None:
    local.policies(ESCALATING)
    approval = local.start_run("Refund order #184 for $250")
    assert approval.deadline_at is not None
    local.fire_due(approval.deadline_at + SECOND)
    escalated = local.store.requests.get(approval.id)
    local.clock.reset()

    local.driver.block_action(
        "U0ONCALL",
        ActionId.APPROVE,
        f'{{"approval_id":"{approval.id}"}}',
        channel_id="C0ESCALATE1",
        container_message_ts=local.posted(escalated, 1).ts,
    )
    local.work()

    assert "Refunded $250.00 for order #184" in local.outcome(approval)


def test_click_after_the_deadline_changes_nothing_and_says_so(local: Local) -> None:
    local.policies(QUICK_EXPIRY)
    approval = local.start_run("Refund order #185 for $250")
    assert approval.deadline_at is not None
    local.clock.move_to(approval.deadline_at + SECOND)

    local.click("U0TOOLATE", ActionId.APPROVE, approval)

    assert "Nothing changed: the deadline passed" in local.ephemeral_to("U0TOOLATE")[0]
    assert local.store.requests.get(approval.id).is_pending  # until the deadline's own outcome is applied
    local.fire_due(approval.deadline_at + SECOND)
    assert local.store.requests.get(approval.id).status == "expired"


def test_reminder_is_posted_in_the_thread_before_the_deadline(local: Local) -> None:
    local.policies(REMINDED)
    approval = local.start_run("Refund order #186 for $250")
    assert approval.deadline_at is not None

    local.fire_due(approval.deadline_at - timedelta(minutes=10) + SECOND)

    reminder = local.slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") == local.ts_of(approval) and "needs a decision by" in str(c.params.get("text")),
    )
    assert reminder.params["text"].startswith(":alarm_clock:")
    assert local.store.requests.get(approval.id).is_pending  # reminded before, not at, the deadline
    local.fire_due(approval.deadline_at - timedelta(minutes=5))
    assert (
        len(
            [
                c
                for c in local.slack.calls_to("chat.postMessage")
                if c.params.get("thread_ts") == local.ts_of(approval) and "needs a decision by" in str(c.params.get("text"))
            ]
        )
        == 1
    )  # once


def test_a_click_racing_the_deadline_exactly_one_wins(local: Local) -> None:
    local.policies(QUICK_EXPIRY)
    approval = local.start_run("Refund order #187 for $250")
    assert approval.deadline_at is not None
    at = approval.deadline_at + SECOND
    barrier = threading.Barrier(4)

    def click(user: str) -> None:
        barrier.wait()
        with contextlib.suppress(Exception):  # the losers are told it was decided first
            local.store.decisions.decide(approval.id, Decision(type=DecisionType.APPROVE, decided_by=user))

    def deadline() -> None:
        barrier.wait()
        local.store.due.expire_due(at, DEADLINE_DECIDER)

    threads = [threading.Thread(target=click, args=(f"U0RACE{n}",)) for n in range(3)] + [threading.Thread(target=deadline)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [e for e in local.store.audit_log.audit_events(approval.id) if e.event in ("decided", "deadline")]
    assert len(winners) == 1


# Through the real worker


def test_a_deadline_fires_on_time_through_the_real_worker(stack: Stack) -> None:
    approval = stack.start_run("Refund order #188 for $11")  # tests/policies.yml: "quick expiry", 2 s

    expired = wait_until(lambda: (a := stack.store.requests.get(approval.id)) and not a.is_pending and a, 15, "the deadline")

    assert expired.status == "expired"
    assert expired.decided_at is not None and approval.deadline_at is not None
    assert timedelta(0) <= expired.decided_at - approval.deadline_at < timedelta(seconds=3)
    assert "I did not refund order #188" in stack.outcome(approval)


def test_a_deadline_owed_in_sql_fires_after_redis_lost_everything_and_the_worker_restarted(stack: Stack) -> None:
    approval = stack.start_run("Refund order #189 for $250")
    stack.stop_worker()
    with stack.store.db.engine.begin() as conn:  # the deadline passed while the worker was away
        conn.execute(update(approvals).where(approvals.c.id == approval.id).values(deadline_at=approval.created_at))
    stack.queue.connection.flushall()

    stack.start_worker()

    expired = wait_until(lambda: (a := stack.store.requests.get(approval.id)) and not a.is_pending and a, 15, "the deadline")
    assert expired.status == "expired"
