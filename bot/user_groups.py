"""Resolving the user groups a policy names (`@handle` or `S…` id) to their members, via Slack's API."""

from __future__ import annotations

import time

from slack_sdk import WebClient

_TTL = 60.0  # seconds; group membership changes rarely, clicks come in bursts


class UserGroupDirectory:
    """Members of Slack user groups, cached for a minute per group."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._ids: dict[str, str] = {}
        self._members: dict[str, tuple[float, set[str]]] = {}

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
        if name not in self._ids:
            for group in self.client.usergroups_list()["usergroups"]:
                self._ids[group["handle"]] = group["id"]
        return self._ids.get(name)

    def _group_members(self, group_id: str) -> set[str]:
        cached = self._members.get(group_id)
        if cached and time.monotonic() - cached[0] < _TTL:
            return cached[1]
        users = set(self.client.usergroups_users_list(usergroup=group_id)["users"])
        self._members[group_id] = (time.monotonic(), users)
        return users
