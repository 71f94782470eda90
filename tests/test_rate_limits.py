"""Slack's rate limits (429 + Retry-After) are waited out, not lost."""

from __future__ import annotations

import time

from tests.stack import Stack


def test_request_is_posted_after_slack_answers_429(stack: Stack) -> None:
    since = time.monotonic()
    stack.slack.rate_limit("chat.postMessage", times=1, retry_after=1)

    approval = stack.start_run("Refund order #95 for $250")

    posts = stack.slack.wait_for(
        "chat.postMessage",
        lambda call: call.time >= since and call.params.get("channel") == approval.channel,
        count=2,
        include_rate_limited=True,
    )
    assert posts[0].rate_limited and not posts[-1].rate_limited
    assert posts[-1].time - posts[0].time >= 0.9  # waited for Retry-After
    assert stack.message(approval)["blocks"]
