"""Resolving the user groups a policy names (`@handle` or `S…` id) to their members, via Slack's API."""

from __future__ import annotations

import time

from slack_sdk import WebClient


class UserGroupDirectory:
    """Members and handles of Slack user groups, each answer (a miss too) cached for `ttl` seconds."""

    def __init__(self, client: WebClient, ttl: float = 60.0) -> None:
        # Group membership changes rarely and clicks come in bursts; Settings.usergroup_cache_seconds.
        self.client = client
        self.ttl = ttl
        self._ids: dict[str, str] = {}
        self._members: dict[str, tuple[float, set[str]]] = {}
        self._listed_at = float("-inf")

    def members(self, approvers: list[str]) -> set[str]:
        """User ids of everyone in the groups among `approvers` (user ids among them are ignored)."""
        users: set[str] = set()
        for entry in approvers:
            group_id = self.group_id(entry) if entry.startswith("@") else entry if entry.startswith("S") else None
            if group_id:
                users |= self._group_members(group_id)
        return users

    def group_id(self, handle: str) -> str | None:
        """The id (S…) of the user group with this @handle, if there is one."""
        name = handle.removeprefix("@")
        # usergroups.list is Tier 2: a handle nobody knows must not ask Slack again on every click, so the
        # whole list is read at most once a minute, hits and misses alike.
        if name not in self._ids and time.monotonic() - self._listed_at >= self.ttl:
            self._ids = {group["handle"]: group["id"] for group in self.client.usergroups_list()["usergroups"]}
            self._listed_at = time.monotonic()
        return self._ids.get(name)

    def _group_members(self, group_id: str) -> set[str]:
        cached = self._members.get(group_id)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        users = set(self.client.usergroups_users_list(usergroup=group_id)["users"])
        self._members[group_id] = (time.monotonic(), users)
        return users
