"""Resolving the members of the channels that decide requests whose rule names no approvers, via Slack's
`conversations.members`; and, with the user-group directory, who may decide a request and what waits on a user."""

from __future__ import annotations

import logging
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from approvals.authorization import ChannelMembers, check_may_decide, deciding_channels
from approvals.errors import NotAnApprover
from approvals.models import ApprovalRequest, Page
from approvals.store import Store
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


class Deciders:
    """Who may decide a request, with the memberships it depends on resolved from Slack: the one place the bot
    asks it, for a click and for the lists (App Home, `/countersign pending`) alike."""

    def __init__(self, store: Store, groups: UserGroupDirectory, channels: ChannelDirectory) -> None:
        self.store = store
        self.groups = groups
        self.channels = channels

    def check(self, approval: ApprovalRequest, user_id: str, position: int | None = None) -> None:
        """Raise `NotAnApprover` unless `user_id` may decide the call at `position` (the request when None)."""
        gate = approval.gate if position is None else approval.gate_of(position)
        check_may_decide(
            approval,
            user_id,
            self.groups.members(gate.approvers) if gate.approvers else None,
            self.channels.members(deciding_channels(approval, gate)),
            position=position,
        )

    def decidable(self, approval: ApprovalRequest, user_id: str, positions: list[int]) -> list[int]:
        """Of `positions`, the calls `user_id` may decide, each by its own rule; `NotAnApprover` for the first
        refused when there is none (the others stay for their own deciders)."""
        allowed: list[int] = []
        refused: NotAnApprover | None = None
        for position in positions:
            try:
                self.check(approval, user_id, position)
            except NotAnApprover as error:
                refused = refused or error
                continue
            allowed.append(position)
        if not allowed and refused is not None:
            raise refused
        return allowed

    def pending_for(self, user_id: str, limit: int, offset: int = 0) -> Page:
        """A page of the pending requests `user_id` may decide (and how many there are)."""
        groups = [entry for entry in self.store.lists.pending_group_approvers() if user_id in self.groups.members([entry])]
        channels = [
            channel
            for channel in self.store.lists.pending_member_channels()
            if user_id in self.channels.members([channel]).members
        ]
        return self.store.lists.pending_for(user_id, groups, limit, offset, channels=channels)
