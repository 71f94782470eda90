"""User groups are asked of Slack sparingly: a handle nobody knows is not looked up again on every click."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.user_groups import UserGroupDirectory
from sandbox.emulator import SlackEmulator


def test_an_unknown_handle_is_looked_up_once_within_the_cache_time(slack: SlackEmulator) -> None:
    directory = UserGroupDirectory(WebClient(token="xoxb-test", base_url=slack.base_url), ttl=60)
    before = len(slack.calls_to("usergroups.list"))

    assert directory.group_id("@nobody-has-this-handle") is None
    assert directory.group_id("@nobody-has-this-handle") is None
    assert directory.members(["@nobody-has-this-handle", "U0SOMEONE"]) == set()

    assert len(slack.calls_to("usergroups.list")) == before + 1


def test_a_group_created_later_is_found_once_the_cache_time_passed(slack: SlackEmulator) -> None:
    directory = UserGroupDirectory(WebClient(token="xoxb-test", base_url=slack.base_url), ttl=0)
    assert directory.group_id("@late-comers") is None

    group = slack.add_usergroup("late-comers", ["U0LATE"])

    assert directory.group_id("@late-comers") == group
    assert directory.members(["@late-comers"]) == {"U0LATE"}
