"""Direct messages: the app's DM with each person, opened as Slack opens it (a user id names a DM channel)."""

from __future__ import annotations

from typing import Any

from sandbox.web_api.core import EmulatorCore
from sandbox.web_api.records import BOT_USER_ID, SlackApiFailure

# Slack's user ids: U… (and W… on Enterprise Grid).
USER_PREFIXES = ("U", "W")


class DirectMessages(EmulatorCore):
    """conversations.open, and the DM channel a `chat.postMessage` to a user id lands in."""

    def deactivate(self, user_id: str) -> None:
        """Make ``user_id`` a deactivated account: Slack refuses to open a DM with them (``user_disabled``)."""
        with self._lock:
            self._state.deactivated.add(user_id)
            self._bump()

    def dm_channel(self, user_id: str) -> str | None:
        """The id of the app's DM with ``user_id`` (D…), once it was opened."""
        with self._lock:
            return self._state.dms.get(user_id)

    def dm_messages(self, user_id: str) -> list[dict[str, Any]]:
        """The messages of the app's DM with ``user_id`` (none before it was opened), by ts."""
        with self._lock:
            channel = self._state.dms.get(user_id)
            return [dict(m) for m in self._state.messages.get(channel, {}).values()] if channel else []

    def dm_user(self, channel: str) -> str | None:
        """The person whose DM with the app ``channel`` is (None for other channels)."""
        with self._lock:
            return next((user for user, dm in self._state.dms.items() if dm == channel), None)

    def _open_dm(self, user_id: str) -> str:
        """The DM channel with ``user_id``, opened on first use, with Slack's errors for ids it cannot DM."""
        if not user_id.startswith(USER_PREFIXES):
            raise SlackApiFailure("user_not_found")
        if user_id == BOT_USER_ID:
            raise SlackApiFailure("cannot_dm_bot")
        if user_id in self._state.deactivated:
            raise SlackApiFailure("user_disabled")
        channel = self._state.dms.get(user_id)
        if channel is None:
            channel = self._state.dms[user_id] = self._next_id("D")
            self._state.messages.setdefault(channel, {})
            self._bump()
        return channel

    def _resolve_channel(self, channel: Any) -> Any:
        """Where a chat.* call that names ``channel`` lands: a user id stands for the app's DM with that person."""
        if isinstance(channel, str) and channel.startswith(USER_PREFIXES):
            return self._open_dm(channel)
        return channel

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel"):
            channel = str(params["channel"])
            if channel not in self._state.dms.values():
                raise SlackApiFailure("channel_not_found")
            return {"ok": True, "channel": {"id": channel}}
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackApiFailure("users_list_not_supplied")
        if len(users) > 1:
            # Slack opens a group DM (mpim) for several people; Countersign only ever DMs one person.
            raise SlackApiFailure("not_implemented", ["the emulator opens DMs with one person"])
        already_open = users[0] in self._state.dms
        channel = self._open_dm(users[0])
        body: dict[str, Any] = {"id": channel}
        if str(params.get("return_im")).lower() == "true":
            body.update({"is_im": True, "user": users[0]})
        return {"ok": True, "channel": body, **({"already_open": True} if already_open else {})}
