"""Nothing that matters lives only in Redis: a decision whose resume job was lost still reaches the agent."""

from __future__ import annotations

from bot.ids import ActionId
from tests.stack import Stack, wait_until


def test_decision_whose_resume_job_redis_lost_is_resumed_when_a_worker_starts(stack: Stack) -> None:
    approval = stack.start_run("Refund order #120 for $250")
    stack.stop_worker()
    stack.click("U0APPROVER", ActionId.APPROVE, approval)
    wait_until(lambda: not stack.store.requests.get(approval.id).is_pending, what="the decision to be committed")
    stack.queue.queue.connection.flushall()  # the queued resume job is gone

    stack.start_worker()

    assert "Refunded $250.00 for order #120" in stack.outcome(approval)
    assert stack.store.requests.get(approval.id).resumed_at is not None


def test_request_that_slack_failed_to_take_is_posted_when_the_job_is_retried(stack: Stack) -> None:
    stack.slack.fail("chat.postMessage", "internal_error", times=1, token=stack.bot_token)

    approval = stack.start_run("Refund order #121 for $250")

    assert stack.message(approval)["blocks"]
    assert len(stack.store.lists.requests_for_thread(approval.thread_id)) == 1
