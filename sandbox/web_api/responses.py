"""response_urls: the Slack client side issues them, and what the app posts to them shows where Slack
would show it."""

from __future__ import annotations

import secrets
import time
from typing import Any

from sandbox.web_api.chat import ChatMethods
from sandbox.web_api.core import ResponseTarget, forget_stale
from sandbox.web_api.records import BOT_USER_ID, Call, SlackApiFailure, copy_json, truthy

# Slack's response_url works for 30 minutes.
RESPONSE_URL_TTL_SECONDS = 30 * 60


class ResponseUrls(ChatMethods):
    """Issues response_urls for interactions and shows what the app posts to them."""

    def response_url_for(self, channel: str, user_id: str, *, message_ts: str | None = None, thread_ts: str | None = None) -> str:
        """A ``response_url`` for an interaction by ``user_id`` in ``channel`` (on message ``message_ts``).

        What the app posts to it shows where Slack would show it: to that user only
        (ephemeral, the default), in the channel (``response_type: in_channel``), or in place
        of the message (``replace_original`` / ``delete_original``).
        """
        name = secrets.token_hex(12)
        now = time.monotonic()
        with self._lock:
            targets = self._state.response_targets
            forget_stale(targets, RESPONSE_URL_TTL_SECONDS, now)
            targets[name] = ResponseTarget(channel, user_id, message_ts, thread_ts)
        return self.response_url(name)

    def deliver_response(self, response_url: str, body: dict[str, Any]) -> dict[str, Any]:
        """Show ``body`` as if the app had posted it to ``response_url`` (one from :meth:`response_url_for`);
        what Slack answers."""
        return self._handle_response_url(response_url.rstrip("/").rsplit("/", 1)[-1], copy_json(body))[1]

    def _handle_response_url(self, name: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Record a POST to a response_url and, for one issued by `response_url_for`, show it."""
        with self._lock:
            body: dict[str, Any] = {"ok": True}
            status = 200
            target = self._state.response_targets.get(name)
            if target is not None:
                try:
                    self._respond(target, params)
                except SlackApiFailure as failure:
                    status, body = 400, failure.body()
            self._calls.append(
                Call(
                    method="response_url",
                    params={**params, "_name": name},
                    time=time.monotonic(),
                    token=None,
                    response=copy_json(body),
                )
            )
            self._bump()
            return status, body

    def _respond(self, target: ResponseTarget, params: dict[str, Any]) -> None:
        stored = self._state.messages.get(target.channel, {})
        original = stored.get(target.message_ts or "")
        if truthy(params.get("delete_original")) and original is not None:
            del stored[original["ts"]]
            return
        self._check_message(params)
        if truthy(params.get("replace_original")) and original is not None:
            original.update(self._content(params))
            original["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
            return
        thread_ts = params.get("thread_ts") or target.thread_ts
        if params.get("response_type") == "in_channel":
            message = self._bot_message(params)
            self._store_message(target.channel, message, thread_ts, author=BOT_USER_ID)
            return
        self._add_ephemeral({"channel": target.channel, "user": target.user, "thread_ts": thread_ts, **self._content(params)})
