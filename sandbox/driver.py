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
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

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


@dataclass
class Response:
    """What the app answered."""

    status: int
    body: str
    elapsed: float
    headers: dict[str, str] = field(default_factory=dict)
    # The payload that was sent (decoded), e.g. to read back the generated trigger_id.
    payload: dict[str, Any] | None = None

    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` if empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


# ---------------------------------------------------------------------- view state values


def plain_text_value(text: str | None) -> dict[str, Any]:
    """State value of a ``plain_text_input``."""
    return {"type": "plain_text_input", "value": text}


def number_value(text: str | None) -> dict[str, Any]:
    """State value of a ``number_input`` (Slack sends the number as a string)."""
    return {"type": "number_input", "value": text}


def _option(value: str, text: str | None = None) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text or value, "emoji": True}, "value": value}


def static_select_value(value: str | None, text: str | None = None) -> dict[str, Any]:
    """State value of a ``static_select``; ``value=None`` means nothing selected."""
    return {"type": "static_select", "selected_option": None if value is None else _option(value, text)}


def checkboxes_value(values: list[str] | list[tuple[str, str]]) -> dict[str, Any]:
    """State value of ``checkboxes``: a list of values, or of ``(value, text)`` pairs."""
    options = [_option(v) if isinstance(v, str) else _option(v[0], v[1]) for v in values]
    return {"type": "checkboxes", "selected_options": options}


# ---------------------------------------------------------------------- driver


class SlackDriver:
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
        self.url = url
        self.acting_as = acting_as
        self.usernames = dict(usernames or {})
        self.signing_secret = signing_secret
        self._verifier = SignatureVerifier(signing_secret)
        self.default_response_url = response_url
        self.team_id = team_id
        self.timeout = timeout
        self.last_payload: dict[str, Any] | None = None
        # Bypass any *_proxy environment: everything here is loopback.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # ------------------------------------------------------------------ low level

    def sign(self, body: str | bytes, timestamp: int | str) -> str:
        """Slack's ``X-Slack-Signature`` for ``body`` sent at ``timestamp`` (slack_sdk's own signing)."""
        signature = self._verifier.generate_signature(timestamp=str(timestamp), body=body)
        assert signature is not None  # only None without a timestamp
        return signature

    def post(
        self,
        body: str | bytes,
        content_type: str,
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        payload: dict[str, Any] | None = None,
        before_send: Callable[[], object] | None = None,
    ) -> Response:
        """POST a raw ``body`` (text, or bytes as they are), signed unless ``signature`` overrides it.
        ``before_send`` is called once the request is built, just before it is sent (and timed): a bench
        lines up simultaneous requests with it, so that building them is not part of the burst."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature if signature is not None else self.sign(body, ts),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **(headers or {}),
        }
        data = body.encode("utf-8") if isinstance(body, str) else body
        request = urllib.request.Request(self.url, data=data, headers=all_headers, method="POST")
        self.last_payload = payload
        if before_send is not None:
            before_send()
        started = time.monotonic()
        try:
            with self._opener.open(request, timeout=self.timeout) as resp:
                status, raw, resp_headers = resp.status, resp.read(), dict(resp.headers.items())
        except urllib.error.HTTPError as err:
            status, raw, resp_headers = err.code, err.read(), dict(err.headers.items())
        elapsed = time.monotonic() - started
        return Response(
            status=status,
            body=raw.decode("utf-8", errors="replace"),
            elapsed=elapsed,
            headers=resp_headers,
            payload=payload,
        )

    def post_interactive(
        self,
        payload: dict[str, Any],
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        before_send: Callable[[], object] | None = None,
    ) -> Response:
        """POST an interactivity ``payload`` form-encoded as ``payload=<json>``, as Slack does."""
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(
            body,
            "application/x-www-form-urlencoded",
            timestamp=timestamp,
            signature=signature,
            payload=payload,
            before_send=before_send,
        )

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
        button's value, or what was picked in a select or overflow menu (see :func:`_action`).
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
            "actions": [_action(message, action_id, value, block_id, action_type)],
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
            "actions": [_action({"blocks": view.get("blocks", [])}, action_id, value, block_id, action_type)],
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
            "view": {**_view_of(view), "state": {"values": values}},
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
            "view": _view_of(view),
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
            "event_id": event_id or f"Ev{next(_counter):010d}",
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


# ---------------------------------------------------------------------- helpers


def _view_of(view: Any) -> dict[str, Any]:
    # Accept an emulator Call for views.open/push/update without importing it (import paths vary).
    response = getattr(view, "response", None)
    if isinstance(response, dict) and isinstance(response.get("view"), dict):
        return dict(response["view"])
    if not isinstance(view, dict):
        raise TypeError(f"expected a view dict or a recorded views.* Call, got {type(view).__name__}")
    return dict(view)


def _action(
    surface: dict[str, Any] | None, action_id: str, value: Any, block_id: str | None, action_type: str | None
) -> dict[str, Any]:
    """The ``actions[0]`` Slack sends for using element ``action_id`` of ``surface`` with ``value``.

    A button sends its value (and text and style); a select or overflow menu the picked option
    (``value`` is the option's value); conversation, channel and user pickers the picked id;
    multi-selects and checkboxes their options (``value`` is a list); date and time pickers the
    picked date or time.
    """
    # Buttons sharing an action_id (one per request on the Home tab) differ by value.
    found_block_id, element = _find_element(surface, action_id, value) if isinstance(value, str) else (None, None)
    if element is None:
        found_block_id, element = _find_element(surface, action_id)
    kind = action_type or (element or {}).get("type") or "button"
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id or found_block_id or "b",
        "type": kind,
        "action_ts": f"{time.time():.6f}",
    }
    if kind == "button":
        action["text"] = (element or {}).get("text") or {"type": "plain_text", "text": action_id, "emoji": True}
        action["value"] = value
        if element and element.get("style"):
            action["style"] = element["style"]
    elif kind in ("static_select", "external_select", "overflow", "radio_buttons"):
        action["selected_option"] = None if value is None else _picked(element, str(value))
    elif kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        action["selected_options"] = [_picked(element, str(v)) for v in value or []]
    elif kind in _PICKED_ID:
        action[_PICKED_ID[kind]] = value
    else:
        action["value"] = value
    return action


# What a picker of ids sends, by element type.
_PICKED_ID = {
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "users_select": "selected_user",
    "multi_conversations_select": "selected_conversations",
    "multi_channels_select": "selected_channels",
    "multi_users_select": "selected_users",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
}


def _picked(element: dict[str, Any] | None, value: str) -> dict[str, Any]:
    """The option with ``value`` as the element lists it (its text too), else one made up."""
    element = element or {}
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return next((dict(o) for o in options if o.get("value") == value), None) or _option(value)


def _find_element(
    message: dict[str, Any] | None, action_id: str, value: str | None = None
) -> tuple[str | None, dict[str, Any] | None]:
    """(block_id, element) of interactive element ``action_id`` (with ``value``, if given) in ``message``'s blocks."""
    for block in (message or {}).get("blocks") or []:
        candidates = list(block.get("elements") or [])
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                candidates.append(block[key])
        for element in candidates:
            if (
                isinstance(element, dict)
                and element.get("action_id") == action_id
                and (value is None or element.get("value") == value)
            ):
                return block.get("block_id"), element
    return None, None
