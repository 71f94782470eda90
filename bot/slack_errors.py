"""Slack's refusals: which ones trying again can fix, which need a person, and the words that tell that person
what to do.

Every refusal is counted (`countersign_slack_refusals_total`, by error); one that says Slack refuses the app's
token sets `countersign_slack_auth_ok` to 0 until a call goes through again, and `/healthz` says so
(`SlackAuthCheck`). What could not be shown stays owed in SQL either way (`approvals.frontend.FrontEndUnavailable`).
"""

from __future__ import annotations

import threading
import time
from typing import Literal

from pydantic import BaseModel
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.formatting import escape

# Slack refuses the app's token: the app was uninstalled, its token rotated or revoked, its workspace gone.
AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "team_access_not_granted"}
)
# The channel cannot take the app's messages until a person acts (invites the app, picks another channel).
CHANNEL_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
# Slack is busy or down, or the connection broke: trying again is the fix.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout", "connection_closed"}
)

RefusalKind = Literal["auth", "channel", "transient", "message_gone", "too_long", "other"]

# The app's name as people mention it (manifest.yml `bot_user.display_name`).
APP_MENTION = "@countersign"


class Refusal(BaseModel):
    """What Slack answered instead of doing a call: its error code and what kind of fix it needs."""

    error: str
    kind: RefusalKind

    @property
    def lasting(self) -> bool:
        """Trying again alone will not help: a person must act first (retried less often meanwhile). An error this
        module does not know (`missing_scope`, `invalid_blocks`) is taken as one: nothing says it passes by itself."""
        return self.kind in ("auth", "channel", "other")


def refusal_of(error: Exception) -> Refusal | None:
    """The refusal an exception from the Web API client stands for (None: not a Slack call failing)."""
    if isinstance(error, SlackApiError):
        code = str(error.response.get("error") or f"http_{error.response.status_code}")
        if error.response.status_code >= 500:
            code = code if code in TRANSIENT_ERRORS else "service_unavailable"
    elif isinstance(error, OSError):
        code = "connection_closed"  # reset, refused or timed out: slack_sdk already tried again
    else:
        return None
    return Refusal(error=code, kind=_kind(code))


def _kind(code: str) -> RefusalKind:
    if code in AUTH_ERRORS:
        return "auth"
    if code in CHANNEL_ERRORS:
        return "channel"
    if code in TRANSIENT_ERRORS:
        return "transient"
    if code == "message_not_found":
        return "message_gone"
    if code == "msg_too_long":
        return "too_long"
    return "other"


def counted(refusal: Refusal) -> Refusal:
    """Count a refusal; one of the token notes that Slack refuses it."""
    metrics.SLACK_REFUSALS.labels(refusal.error).inc()
    if refusal.kind == "auth":
        metrics.SLACK_AUTH_OK.set(0)
    return refusal


def accepted() -> None:
    """A call went through: Slack takes the app's token."""
    metrics.SLACK_AUTH_OK.set(1)


def what_to_fix(error: str, channel: str, rule: str | None, tool: str) -> str:
    """Tell a person, in words, why a request was not posted and what makes it go out."""
    where = f"<#{channel}>"
    under = f"rule _{escape(rule)}_" if rule else "its rule"
    waits = f"The request for `{escape(tool)}` waits"
    if error == "not_in_channel":
        return (
            f":warning: I can't post in {where}: invite {APP_MENTION} to {where} (`/invite {APP_MENTION}` there). "
            f"{waits} and is posted once I'm in."
        )
    if error == "is_archived":
        return (
            f":warning: {where} is archived: pick another channel for {under} (or unarchive {where}). "
            f"{waits} and is posted once the channel takes messages."
        )
    return (
        f":warning: I can't find the channel `{escape(channel)}` of {under}: it was deleted, or it is private and "
        f"{APP_MENTION} is not in it. Invite {APP_MENTION} to it, or pick another channel for {under}. "
        f"{waits} and is posted once I can post there."
    )


def reposted_text(tool: str, link: str | None) -> str:
    """The thread's note that a deleted request message was posted again."""
    where = f": <{link}|the request>" if link else "."
    return f":recycle: The request message for `{escape(tool)}` was deleted, so I posted it again with where it stands{where}"


class SlackAuthCheck:
    """Whether Slack takes the app's token (for /healthz): asked with `auth.test` at most every `every` seconds while
    it does, and at each check while it refuses (so the health check clears as soon as the app is installed again)."""

    def __init__(self, client: WebClient, every: float = 30.0) -> None:
        self.client = client
        self.every = every
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._refused: str | None = None

    def refused(self) -> str | None:
        """Slack's error when it refuses the token (`token_revoked`...), else None (also when Slack is unreachable:
        that says nothing of the token)."""
        with self._lock:
            now = time.monotonic()
            if self._refused is not None or self._checked_at is None or now - self._checked_at >= self.every:
                self._checked_at = now
                self._refused = self._ask()
            return self._refused

    def _ask(self) -> str | None:
        try:
            self.client.auth_test()
        except (SlackApiError, OSError) as error:
            refusal = refusal_of(error)
            if refusal is not None and refusal.kind == "auth":
                counted(refusal)
                return refusal.error
            return None
        accepted()
        return None
