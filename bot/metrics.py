"""The bot's Prometheus metrics (served at /metrics on PORT; names in docs/operations.md)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from approvals.models import DecisionType
from approvals.prometheus import exposition, scrape_registry

# The request kinds Slack sends; anything else counts as `other`, so a stranger cannot invent labels.
KINDS = {
    "block_actions",
    "view_submission",
    "view_closed",
    "block_suggestion",
    "shortcut",
    "message_action",
    "event_callback",
    "url_verification",
    "slash_command",
}

REQUESTS = Counter("countersign_bot_requests_total", "Requests from Slack, by kind.", ["kind"])
ACK_SECONDS = Histogram(
    "countersign_bot_ack_seconds",
    "From a request's arrival to the bot's answer (the ack Slack waits 3 s for), by kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
)
DECISIONS = Counter(
    "countersign_bot_decisions_total",
    "Decisions recorded from clicks and modals, by outcome (approve, edit, reject, respond, vote).",
    ["outcome"],
)
REFUSALS = Counter(
    "countersign_bot_refusals_total",
    "Clicks and submissions refused, by reason (not_an_approver, already_decided, deadline_passed, ...).",
    ["reason"],
)
SIGNATURE_FAILURES = Counter(
    "countersign_bot_signature_failures_total", "Requests refused for a missing, wrong or stale Slack signature."
)
REDELIVERIES = Counter(
    "countersign_bot_redeliveries_total",
    "Requests Slack delivered again (a retry, a Socket Mode redelivery), answered as the first and not handled again.",
)

# Written by whichever process calls Slack (the bot, the worker's jobs): what /metrics of each shows.
SLACK_REFUSALS = Counter(
    "countersign_slack_refusals_total",
    "Web API calls Slack refused or could not answer, by error (not_in_channel, token_revoked, connection_closed, ...).",
    ["error"],
)
SLACK_AUTH_OK = Gauge(
    "countersign_slack_auth_ok",
    "1 while Slack takes the app's token, 0 once it refused it (invalid_auth, token_revoked, ...) until a call goes through.",
    multiprocess_mode="mostrecent",
)


def kind_of(body: Any) -> str:
    """What kind of request a parsed Slack body is (a label from `KINDS`, or `other`)."""
    if not isinstance(body, dict):
        return "other"
    kind = "slash_command" if "command" in body else str(body.get("type") or "other")
    return kind if kind in KINDS else "other"


def answered(kind: str, seconds: float, status: int) -> None:
    """Count a request the bot answered, and how long the answer took."""
    REQUESTS.labels(kind).inc()
    ACK_SECONDS.labels(kind).observe(seconds)
    if status == 401:
        SIGNATURE_FAILURES.inc()


def decided(decision: DecisionType, *, vote_only: bool) -> None:
    """Count a recorded decision (an approval that only counts toward a quorum is a `vote`)."""
    DECISIONS.labels("vote" if vote_only else decision.value).inc()


def refused(error: Exception) -> None:
    """Count a refused click or submission, by the domain error that refused it."""
    REFUSALS.labels(re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()).inc()


@cache
def _registry() -> Any:
    return scrape_registry()


def scrape() -> tuple[bytes, str]:
    """What /metrics answers: every bot process's metrics."""
    return exposition(_registry())
