"""What reaches `/slack/events`: checked before anything parses it, then parsed strictly.

Order matters. The size comes first (413 past the limit, before reading more), then the timestamp
(401 unless whole seconds within five minutes of now) and the signature over the raw bytes (401),
and only then is the body decoded and parsed. A signed body Slack would never send (not UTF-8, a
malformed form, a payload that is not a JSON object, a click with no action) is refused with 400
and nothing changes. What passes is exactly what the Bolt app's listeners can read.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from slack_sdk.signature import SignatureVerifier

# Slack's own payloads are a few kilobytes; a modal's state with every field at its limit is well under this.
MAX_BODY_BYTES = 1_000_000
_MAX_SKEW_SECONDS = 300
# What Slack sends, and only that, so no header reaches a conversion that can raise on hostile input (`int()`
# past 4,300 digits, `hmac.compare_digest` on non-ASCII text): whole seconds, and a lowercase SHA-256 hex digest.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class Refused(NamedTuple):
    """An answer given without the app seeing the request: its HTTP status and a short reason."""

    status: int
    reason: str


def check(headers: Mapping[str, str], body: bytes, secret: str | None, now: Callable[[], float] = time.time) -> Refused | None:
    """None when the request is Slack's: signed with `secret` over these bytes, recently. Without a
    secret (Socket Mode) nothing arrives over HTTP to check."""
    if secret is None:
        return Refused(401, "no signing secret configured")
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not _TIMESTAMP.fullmatch(timestamp) or abs(now() - int(timestamp)) > _MAX_SKEW_SECONDS:
        return Refused(401, "missing, malformed or stale timestamp")
    if not _SIGNATURE.fullmatch(signature):
        return Refused(401, "missing or malformed signature")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Refused(401, "body is not UTF-8, so Slack did not sign it")
    if not SignatureVerifier(secret).is_valid(body=text, timestamp=timestamp, signature=signature):
        return Refused(401, "invalid signature")
    return None


def parse(content_type: str, body: bytes) -> Refused | dict[str, Any]:
    """What the app's listeners read (an interaction's payload, a slash command's fields, an Events API
    object), or why it is malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Refused(400, "body is not UTF-8")
    if content_type.split(";", 1)[0].strip().lower() == "application/json":
        return _object(text, "JSON body")
    try:
        fields = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
    except ValueError:
        return Refused(400, "malformed form body")
    if "payload" not in fields:
        return fields  # a slash command
    payload = _object(fields["payload"], "payload")
    if isinstance(payload, Refused):
        return payload
    problem = _interaction_problem(payload)
    return Refused(400, problem) if problem else payload


def _object(text: str, what: str) -> Refused | dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return Refused(400, f"{what} is not JSON")
    if not isinstance(value, dict):
        return Refused(400, f"{what} is not a JSON object")
    return value


def _interaction_problem(payload: dict[str, Any]) -> str | None:
    """What is missing from an interactivity payload that every listener relies on, if anything."""
    kind = payload.get("type")
    if not isinstance(kind, str):
        return "payload has no type"
    user = payload.get("user")
    if kind in ("block_actions", "view_submission", "view_closed") and not (
        isinstance(user, dict) and isinstance(user.get("id"), str)
    ):
        return "payload has no user"
    if kind == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions:
            return "block_actions without actions"
        if not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
            return "an action without an action_id"
    if kind in ("view_submission", "view_closed"):
        view = payload.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("callback_id"), str):
            return "a view without a callback_id"
        if kind == "view_submission" and not isinstance((view.get("state") or {}).get("values", {}), dict):
            return "a view whose state is not an object"
    return None
