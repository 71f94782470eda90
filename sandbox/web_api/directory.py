"""Who is in the workspace: users, user groups, channels and their members, and the app itself."""

from __future__ import annotations

from typing import Any

from sandbox.web_api.core import EmulatorCore
from sandbox.web_api.records import (
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_ID,
    TEAM_NAME,
    TEAM_URL,
    Channel,
    SlackApiFailure,
    User,
    page_of,
)

# conversations.members answers this many members a page unless asked for another `limit` (Slack: 100, at most 1000).
MEMBERS_PAGE_DEFAULT = 100
MEMBERS_PAGE_MAX = 1000


class DirectoryMethods(EmulatorCore):
    """auth.test, users.info, usergroups.list, usergroups.users.list and conversations.members."""

    def add_usergroup(self, handle: str, users: list[str]) -> str:
        """Create (or replace) a user group with these members; returns its id (S…)."""
        with self._lock:
            existing = next((g for g in self._state.usergroups.values() if g["handle"] == handle), None)
            group_id = existing["id"] if existing else self._next_id("S")
            self._state.usergroups[group_id] = {
                "id": group_id,
                "team_id": TEAM_ID,
                "handle": handle,
                "name": handle.replace("-", " ").title(),
                "users": list(users),
                "user_count": len(users),
            }
            self._bump()
            return group_id

    def add_member(self, user_id: str) -> None:
        """Count ``user_id`` among the workspace's members (so among those of its ``everyone`` channels)."""
        with self._lock:
            if user_id not in self._workspace:
                self._workspace[user_id] = None
                self._bump()

    def add_channel(self, channel: Channel) -> None:
        """List a channel in the workspace (or list it again, with these members), the app among them."""
        with self._lock:
            self._channels[channel.id] = channel
            self._members[channel.id] = dict.fromkeys([BOT_USER_ID, *channel.members])
            self._left[channel.id] = set()
            self._bump()

    def join(self, channel: str, *users: str) -> None:
        """Make `users` members of a listed channel (``KeyError`` if the workspace does not list it)."""
        with self._lock:
            self._members[channel].update(dict.fromkeys(users))
            self._left[channel].difference_update(users)
            self._bump()

    def leave(self, channel: str, *users: str) -> None:
        """Take `users` out of a listed channel (``BOT_USER_ID`` too: then the app may not list its members)."""
        with self._lock:
            for user in users:
                self._members[channel].pop(user, None)
            self._left[channel].update(users)
            self._bump()

    def channel_members(self, channel: str) -> list[str]:
        """The members of a listed channel, in the order they joined (``KeyError`` if the workspace does not list it)."""
        with self._lock:
            everyone = self._workspace if self._channels[channel].everyone else {}
            return [user for user in {**self._members[channel], **everyone} if user not in self._left[channel]]

    def user(self, user_id: str) -> User:
        """A workspace member by id (a generated profile for ids the workspace does not list)."""
        return self._users.get(user_id) or User(id=user_id, name=user_id.lower(), real_name=f"User {user_id}")

    def channel_name(self, channel_id: str) -> str:
        """A channel's name (its lower-cased id for channels the workspace does not list)."""
        channel = self._channels.get(channel_id)
        if channel is None:
            person = next((user for user, dm in self._state.dms.items() if dm == channel_id), None)
            if person is not None:
                return f"@{self.user(person).name}"  # a DM is named for the person, as Slack's sidebar does
        return channel.name if channel else channel_id.lower()

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": TEAM_URL,
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _usergroups_list(self, params: dict[str, Any]) -> dict[str, Any]:
        groups = [{k: v for k, v in g.items() if k != "users"} for g in self._state.usergroups.values()]
        return {"ok": True, "usergroups": groups}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self._state.usergroups.get(str(params.get("usergroup")))
        if group is None:
            raise SlackApiFailure("no_such_subteam")
        return {"ok": True, "users": list(group["users"])}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user")
        if not user_id:
            raise SlackApiFailure("user_not_found")
        user = self.user(str(user_id))
        return {
            "ok": True,
            "user": {
                "id": user.id,
                "team_id": TEAM_ID,
                "name": user.name,
                "deleted": user.id in self._state.deactivated,
                "real_name": user.real_name,
                "tz": user.tz,
                "tz_label": user.tz,
                "tz_offset": 3600,
                "is_bot": user.id == BOT_USER_ID,
                "is_admin": False,
                "profile": {
                    "title": user.title,
                    "real_name": user.real_name,
                    "display_name": user.name,
                    "real_name_normalized": user.real_name,
                    "display_name_normalized": user.name,
                    "email": f"{user.name}@emulated.example",
                    "team": TEAM_ID,
                },
            },
        }

    def _conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channels.get(str(params.get("channel") or ""))
        members = self.channel_members(channel.id) if channel else []
        if channel is None or (channel.private and BOT_USER_ID not in members):
            raise SlackApiFailure("channel_not_found")  # a private channel the app is not in is hidden from it
        if BOT_USER_ID not in members:
            raise SlackApiFailure("not_in_channel")
        page, cursor = page_of(members, params, MEMBERS_PAGE_DEFAULT, MEMBERS_PAGE_MAX)
        return {"ok": True, "members": page, "response_metadata": {"next_cursor": cursor}}
