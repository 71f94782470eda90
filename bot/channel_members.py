"""Resolving the members of the channels that decide requests whose rule names no approvers, via Slack's
`conversations.members`; with the user-group directory, the core's `Directory` of who belongs where."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from approvals.authorization import ChannelMembers
from bot.user_groups import UserGroupDirectory

log = logging.getLogger(__name__)

# Members asked for per page of `conversations.members` (Slack's own limit is 1000; it suggests at most 200).
MEMBERS_PAGE = 200


class ChannelDirectory:
    """Members of Slack channels, each channel's list cached for `ttl` seconds once read; a channel that could not be
    read is asked again next time (its failure is not remembered, so inviting the app takes effect at once)."""

    def __init__(self, client: WebClient, ttl: float = 30.0) -> None:
        # Membership changes rarely and clicks and Home opens come in bursts; Settings.channel_members_cache_seconds.
        self.client = client
        self.ttl = ttl
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    def members(self, channels: tuple[str, ...] | list[str]) -> ChannelMembers:
        """Everyone in these channels, and the channels that could not be read (with Slack's error)."""
        members: set[str] = set()
        unreadable: dict[str, str] = {}
        for channel in channels:
            try:
                members |= self._channel_members(channel)
            except SlackApiError as error:
                unreadable[channel] = str(error.response.get("error") or "unknown_error")
                log.warning("could not read the members of %s: %s", channel, unreadable[channel])
            except OSError as error:  # Slack unreachable, after the client's retries
                unreadable[channel] = "unreachable"
                log.warning("could not read the members of %s: %s", channel, error)
        return ChannelMembers(frozenset(members), unreadable)

    def _channel_members(self, channel: str) -> frozenset[str]:
        cached = self._members.get(channel)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        users: set[str] = set()
        cursor = None
        while True:
            page = self.client.conversations_members(channel=channel, limit=MEMBERS_PAGE, cursor=cursor)
            users.update(page.get("members") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        found = frozenset(users)
        self._members[channel] = (time.monotonic(), found)
        return found


class SlackDirectory:
    """Who belongs where, as Slack says: user groups' and channels' members (the core's `Directory`), each read
    through its cache."""

    def __init__(self, groups: UserGroupDirectory, channels: ChannelDirectory) -> None:
        self.groups = groups
        self.channels = channels

    def group_members(self, entries: Sequence[str]) -> set[str]:
        """The users of the user groups among `entries`."""
        return self.groups.members(list(entries))

    def channel_members(self, channels: Sequence[str]) -> ChannelMembers:
        """The members of `channels`, and the channels whose members could not be read."""
        return self.channels.members(list(channels))
