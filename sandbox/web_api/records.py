"""What the emulated workspace is and what it records: its fixed ids, users, channels, calls and errors."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

TEAM_ID = "T0EMULATED"
TEAM_NAME = "Emulated"
TEAM_URL = "https://emulated.slack.com/"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
BOT_NAME = "countersign"
APP_ID = "A0EMULATED"


@dataclass
class Call:
    """One request received by the emulator."""

    method: str
    params: dict[str, Any]
    time: float
    token: str | None
    rate_limited: bool = False
    http_method: str = "POST"
    # The JSON body sent back; handy to fetch e.g. the generated view id.
    response: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Whether the emulator answered ``ok: true``."""
        return bool(self.response and self.response.get("ok"))


@dataclass(frozen=True)
class User:
    """A member of the emulated workspace, as ``users.info`` describes them."""

    id: str
    name: str
    real_name: str
    title: str = ""
    tz: str = "Europe/Paris"


@dataclass(frozen=True)
class Channel:
    """A channel of the emulated workspace: its members (the app is in every listed channel, as if invited,
    unless it leaves), whether it is private (a private channel the app is not in does not exist for it), and
    whether every member of the workspace is in it, as in Slack's #general (``everyone``)."""

    id: str
    name: str
    members: tuple[str, ...] = ()
    private: bool = False
    everyone: bool = False


class SlackApiFailure(Exception):
    """Raised by a method handler to answer ``{"ok": false, "error": ...}``, with Slack's detail messages."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error if not messages else f"{error}: {'; '.join(messages)}")
        self.error = error
        self.messages = messages or []

    def body(self) -> dict[str, Any]:
        """The JSON Slack answers with."""
        body: dict[str, Any] = {"ok": False, "error": self.error}
        if self.messages:
            body["errors"] = list(self.messages)
            body["response_metadata"] = {"messages": [f"[ERROR] {m}" for m in self.messages]}
        return body


def copy_json(value: Any) -> Any:
    """Deep copy of JSON-shaped data, so tests can't mutate emulator state by accident."""
    return json.loads(json.dumps(value))


def truthy(value: Any) -> bool:
    """Whether a flag is set: JSON bodies send booleans, form bodies send "true"."""
    return value is True or str(value).lower() == "true"


def page_of(items: list[T], params: dict[str, Any], default_limit: int, most: int) -> tuple[list[T], str]:
    """The page of `items` a cursor-paged method returns, as Slack pages: `limit` of them (`default_limit` when
    unnamed, at most `most`) from where the opaque `cursor` says; and the next page's cursor ("" at the end).
    Slack's `invalid_cursor` and `invalid_limit` for what it would refuse."""
    try:
        limit = int(params.get("limit") or default_limit)
        start = int(base64.b64decode(str(params.get("cursor") or ""), validate=True).decode().removeprefix("offset:") or 0)
    except ValueError:
        raise SlackApiFailure("invalid_cursor") from None
    if start < 0:
        raise SlackApiFailure("invalid_cursor")
    if not 0 < limit <= most:
        raise SlackApiFailure("invalid_limit")
    end = start + limit
    return items[start:end], base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
