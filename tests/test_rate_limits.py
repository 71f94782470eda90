"""Slack's rate limits (429 + Retry-After) are waited out, not lost."""

from __future__ import annotations

import time

import pytest

from approvals.policies import Rule
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
