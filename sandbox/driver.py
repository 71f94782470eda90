"""Acts as Slack towards a Bolt app served over HTTP: for the tests, and for the sandbox page.

Builds the payloads Slack sends (interactivity, slash commands, Events API),
signs them exactly as Slack does, and POSTs them with the standard library.

Example::

    driver = SlackDriver("http://127.0.0.1:3000/slack/events", signing_secret="s3cr3t")
    resp = driver.block_action("U1", "approve", "req-1", channel_id="C1", container_message_ts=ts)
    assert resp.status == 200
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from sandbox.element_actions import element_action, view_of
from sandbox.signed_requests import Response, SignedSender
from sandbox.view_values import checkboxes_value, number_value, plain_text_value, static_select_value

__all__ = [
    "Response",
    "SlackDriver",
    "checkboxes_value",
    "number_value",
    "plain_text_value",
    "static_select_value",
]

DEFAULT_TEAM_ID = "T0EMULATED"
TEAM_DOMAIN = "emulated"
API_APP_ID = "A0EMULATED"
# The legacy verification token Slack still puts in payloads; Bolt ignores it.
VERIFICATION_TOKEN = "emulated-verification-token"

_counter = itertools.count(1)


class SlackDriver(SignedSender):
    """Sends signed Slack requests to a Bolt app at ``url`` (e.g. ``http://127.0.0.1:3000/slack/events``)."""

    def __init__(
        self,
        url: str,
        signing_secret: str,
        *,
        response_url: str | None = None,
        team_id: str = DEFAULT_TEAM_ID,
        timeout: float = 30.0,
        usernames: Mapping[str, str] | None = None,
        acting_as: Callable[[str], object] | None = None,
    ) -> None:
        """``response_url`` is the default put in payloads (e.g. ``SlackEmulator.response_url()``);
        ``usernames`` maps user ids to the handles payloads name them by (default: the id, lower-cased);
        ``acting_as`` is told of each user a request is sent as, before it is sent (e.g.
        ``SlackEmulator.add_member``: only members of a workspace act in it)."""
        super().__init__(url, signing_secret, timeout=timeout)
        self.acting_as = acting_as
        self.usernames = dict(usernames or {})
        self.default_response_url = response_url
        self.team_id = team_id

    # ------------------------------------------------------------------ shared pieces

    @staticmethod
    def new_trigger_id() -> str:
        """A unique trigger id shaped like Slack's (``"<digits>.<digits>.<hex>"``)."""
        return f"{int(time.time())}.{next(_counter):09d}.{secrets.token_hex(16)}"

    def _acting(self, user_id: Any) -> None:
        if self.acting_as is not None and isinstance(user_id, str) and user_id:
            self.acting_as(user_id)

    def _user(self, user_id: str, team_id: str | None = None) -> dict[str, Any]:
        self._acting(user_id)
        name = self.usernames.get(user_id, user_id.lower())
        return {"id": user_id, "username": name, "name": name, "team_id": team_id or self.team_id}

    def _team(self, team_id: str | None = None) -> dict[str, Any]:
        return {"id": team_id or self.team_id, "domain": TEAM_DOMAIN}

    def _response_url(self, response_url: str | None, team_id: str) -> str:
        if response_url is not None:
            return response_url
        if self.default_response_url is not None:
            return self.default_response_url
        return f"https://hooks.slack.com/actions/{team_id}/{next(_counter)}/{secrets.token_hex(12)}"

    # ------------------------------------------------------------------ interactivity

    def block_action(
        self,
        user_id: str,
        action_id: str,
        value: Any,
        *,
        channel_id: str,
        container_message_ts: str | None = None,
        message: dict[str, Any] | None = None,
        trigger_id: str | None = None,
        block_id: str | None = None,
        response_url: str | None = None,
        team_id: str | None = None,
        action_type: str | None = None,
        channel_name: str = "requests",
        is_ephemeral: bool = False,
        timestamp: int | str | None = None,
        signature: str | None = None,
        before_send: Callable[[], object] | None = None,
    ) -> Response:
        """Click an element (a button by default) in a channel message.

        ``message`` is the message as currently stored (e.g. ``emulator.message(channel, ts)``);
        when it holds the element, its real ``block_id``, type and button text are used, as
        Slack would. ``container_message_ts`` defaults to ``message["ts"]``. ``value`` is the
        button's value, or what was picked in a select or overflow menu (see :func:`sandbox.element_actions.element_action`).
        """
        team = team_id or self.team_id
        ts = container_message_ts or (message or {}).get("ts")
        if not ts:
            raise ValueError("block_action needs container_message_ts or a message with a ts")
        container: dict[str, Any] = {"type": "message", "message_ts": ts, "channel_id": channel_id, "is_ephemeral": is_ephemeral}
        if (message or {}).get("thread_ts"):
            container["thread_ts"] = message["thread_ts"]  # type: ignore[index]
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id, team),
            "api_app_id": API_APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": container,
            "trigger_id": trigger_id or self.new_trigger_id(),
            "team": self._team(team),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": channel_name},
            "message": message if message is not None else {"type": "message", "ts": ts},
            "state": {"values": {}},
            "response_url": self._response_url(response_url, team),
            "actions": [element_action(message, action_id, value, block_id, action_type)],
        }
        return self.post_interactive(payload, timestamp=timestamp, signature=signature, before_send=before_send)

    def view_action(
        self,
        user_id: str,
        action_id: str,
        value: Any,
        *,
        view: dict[str, Any],
        trigger_id: str | None = None,
        block_id: str | None = None,
        action_type: str | None = None,
        team_id: str | None = None,
    ) -> Response:
        """Use an element of a view: the App Home tab or an open modal (``view`` as stored, with its
        ``id`` and, for a modal, the ``state`` typed so far)."""
        team = team_id or self.team_id
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id, team),
            "api_app_id": API_APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": view.get("id")},
            "trigger_id": trigger_id or self.new_trigger_id(),
            "team": self._team(team),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": view,
            "actions": [element_action({"blocks": view.get("blocks", [])}, action_id, value, block_id, action_type)],
        }
        if view.get("type") == "modal":
            payload["state"] = view.get("state") or {"values": {}}
        return self.post_interactive(payload)

    def home_action(
        self,
        user_id: str,
        action_id: str,
        value: str | None,
        *,
        view: dict[str, Any],
        trigger_id: str | None = None,
        team_id: str | None = None,
    ) -> Response:
        """Click a button on the user's App Home tab (`view` as published, with its `id`)."""
        return self.view_action(user_id, action_id, value, view=view, trigger_id=trigger_id, team_id=team_id)

    def view_submission(
        self,
        user_id: str,
        view: Any,
        values: dict[str, dict[str, dict[str, Any]]],
        *,
        trigger_id: str | None = None,
        team_id: str | None = None,
        timestamp: int | str | None = None,
        signature: str | None = None,
    ) -> Response:
        """Submit a modal.

        ``view`` is the view as Slack returned it (``call.response["view"]`` of the
        ``views.open`` call, with its ``id``, ``callback_id`` and ``private_metadata``);
        a recorded ``Call`` is accepted too. ``values`` is ``{block_id: {action_id: element_value}}``,
        built with :func:`plain_text_value` and friends.
        """
        team = team_id or self.team_id
        payload = {
            "type": "view_submission",
            "team": self._team(team),
            "user": self._user(user_id, team),
            "api_app_id": API_APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id or self.new_trigger_id(),
            "view": {**view_of(view), "state": {"values": values}},
            "response_urls": [],
            "enterprise": None,
            "is_enterprise_install": False,
        }
        return self.post_interactive(payload, timestamp=timestamp, signature=signature)

    def view_closed(
        self,
        user_id: str,
        view: Any,
        *,
        is_cleared: bool = False,
        team_id: str | None = None,
        timestamp: int | str | None = None,
        signature: str | None = None,
    ) -> Response:
        """Close a modal (the app only hears of it when the view had ``notify_on_close``)."""
        team = team_id or self.team_id
        payload = {
            "type": "view_closed",
            "team": self._team(team),
            "user": self._user(user_id, team),
            "api_app_id": API_APP_ID,
            "token": VERIFICATION_TOKEN,
            "view": view_of(view),
            "is_cleared": is_cleared,
            "enterprise": None,
            "is_enterprise_install": False,
        }
        return self.post_interactive(payload, timestamp=timestamp, signature=signature)

    # ------------------------------------------------------------------ commands and events

    def slash_command(
        self,
        user_id: str,
        command: str,
        text: str = "",
        channel_id: str = "C0REQUESTS",
        trigger_id: str | None = None,
        *,
        channel_name: str = "requests",
        response_url: str | None = None,
        team_id: str | None = None,
        timestamp: int | str | None = None,
        signature: str | None = None,
    ) -> Response:
        """Run ``command`` (e.g. ``"/countersign"``) with ``text``, form-encoded as Slack sends it."""
        team = team_id or self.team_id
        self._acting(user_id)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": team,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": self.usernames.get(user_id, user_id.lower()),
            "command": command,
            "text": text,
            "api_app_id": API_APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._response_url(response_url, team),
            "trigger_id": trigger_id or self.new_trigger_id(),
        }
        return self.post(
            urlencode(fields),
            "application/x-www-form-urlencoded",
            timestamp=timestamp,
            signature=signature,
            payload=fields,
        )

    def event(
        self,
        event: dict[str, Any],
        *,
        team_id: str | None = None,
        event_id: str | None = None,
        timestamp: int | str | None = None,
        signature: str | None = None,
    ) -> Response:
        """Deliver an Events API ``event_callback`` wrapping ``event`` (e.g. ``{"type": "app_mention", ...}``)."""
        team = team_id or self.team_id
        self._acting(event.get("user"))
        now = int(time.time())
        event = {"event_ts": f"{time.time():.6f}", **event}
        body = {
            "token": VERIFICATION_TOKEN,
            "team_id": team,
            "api_app_id": API_APP_ID,
            "event": event,
            "type": "event_callback",
            # Unique across processes too: the bot handles each event_id once (a retry shares it).
            "event_id": event_id or f"Ev{next(_counter):06d}{secrets.token_hex(4).upper()}",
            "event_time": now,
            "authorizations": [
                {"enterprise_id": None, "team_id": team, "user_id": "U0BOT", "is_bot": True, "is_enterprise_install": False}
            ],
            "is_ext_shared_channel": False,
            "event_context": secrets.token_hex(16),
        }
        return self.post(json.dumps(body), "application/json", timestamp=timestamp, signature=signature, payload=body)

    def url_verification(self, challenge: str, *, timestamp: int | str | None = None, signature: str | None = None) -> Response:
        """Slack's endpoint check; the app must echo ``challenge``."""
        body = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        return self.post(json.dumps(body), "application/json", timestamp=timestamp, signature=signature, payload=body)

    # ------------------------------------------------------------------ retries

    def retry(self, sent: Response, num: int = 1, reason: str = "http_timeout") -> Response:
        """Deliver what ``sent`` sent again, as Slack retries a request it thinks went unanswered: the same
        payload, signed afresh, with ``X-Slack-Retry-Num`` and ``X-Slack-Retry-Reason``."""
        payload = sent.payload
        if payload is None:
            raise ValueError("retry needs the Response of a request this driver sent")
        headers = {"X-Slack-Retry-Num": str(num), "X-Slack-Retry-Reason": reason}
        if "command" in payload:
            body, content_type = urlencode(payload), "application/x-www-form-urlencoded"
        elif payload.get("type") in ("event_callback", "url_verification"):
            body, content_type = json.dumps(payload), "application/json"
        else:
            body, content_type = urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        return self.post(body, content_type, headers=headers, payload=payload)
