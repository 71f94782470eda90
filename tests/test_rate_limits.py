"""Slack's rate limits (429 + Retry-After) are waited out, not lost."""

from __future__ import annotations

import time

import pytest

from approvals.policies import Rule
from approvals.runs import RunRequest, start_run
from bot.ids import ActionId
from tests.local import Local


@pytest.mark.slow
def test_request_is_posted_after_slack_answers_429(local: Local) -> None:
    since = time.monotonic()
    # A channel of its own: the session's approvals channel takes other tests' posts, which could meet the 429 first.
    local.policies(Rule(name="rate-limited refunds", tool="refund", channel="C0RATELIMITED"))
    local.slack.rate_limit("chat.postMessage", times=1, retry_after=1, token=local.bot_token, channel="C0RATELIMITED")

    approval = local.start_run("Refund order #95 for $250")

    posts = local.slack.wait_for(
        "chat.postMessage",
        lambda call: (
            call.time >= since
            and call.token == local.bot_token
            and call.params.get("channel") == approval.channel
            and "thread_ts" not in call.params  # the request itself, not its progress or a reply
        ),
        count=2,
        include_rate_limited=True,
    )
    assert posts[0].rate_limited and not posts[-1].rate_limited
    assert posts[-1].time - posts[0].time >= 0.9  # waited for Retry-After
    assert local.message(approval)["blocks"]


@pytest.mark.slow
def test_runs_posting_faster_than_slack_allows_in_a_channel_each_post_once_and_all_finish(local: Local) -> None:
    # Slack allows about one post a second in a channel: here three, after a burst of one, in a channel of their own.
    local.policies(Rule(name="refunds at Slack's pace", tool="refund", channel="C0PACED", approvers=["U0PACER"]))
    runs = [RunRequest(agent="payments", input_text=f"Refund order #96{n} for $250", requested_by="U0ASKER") for n in range(3)]
    local.slack.posts_a_second, local.slack.posting_burst = 3.0, 1
    try:
        for run in runs:
            start_run(run, local.store, None)
        asked = [local.wait_for_request(run.thread_id, timeout=60) for run in runs]
        for approval in asked:
            local.click("U0PACER", ActionId.APPROVE, approval)
        outcomes = [local.outcome(approval, timeout=60) for approval in asked]
    finally:
        local.slack.posts_a_second = None

    assert all(outcome.startswith(":robot_face:") for outcome in outcomes)
    posts = [c for c in local.slack.calls_to("chat.postMessage") if c.params.get("channel") == "C0PACED"]
    assert any(c.rate_limited for c in posts)  # Slack's limit was met
    landed = [c for c in posts if not c.rate_limited]
    # Each run's request (its thread's first message), progress and ending, each once.
    assert len([c for c in landed if "thread_ts" not in c.params]) == len(runs)
    assert len(landed) == 3 * len(runs)
