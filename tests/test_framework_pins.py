"""The framework internals we rely on were read against the slack-bolt that is installed."""

from __future__ import annotations

from slack_bolt.version import __version__ as installed_slack_bolt

from bot.bolt_internals import SLACK_BOLT_VERSION


def test_bolt_internals_follow_the_pinned_slack_bolt() -> None:
    # On another slack-bolt, read bot/bolt_internals.py's uses again in that release, then move its version.
    assert installed_slack_bolt == SLACK_BOLT_VERSION, (
        f"slack-bolt {installed_slack_bolt} is installed; bot/bolt_internals.py follows {SLACK_BOLT_VERSION}"
    )
