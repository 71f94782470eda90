"""A Python client for Countersign's approval API (docs/api.md): ask for a decision and wait for it, or gate
any function so it runs only with arguments people approved. Standard library and pydantic only.

    countersign = Countersign("https://countersign.example.com", key)

    @countersign.gated(tool="refund")
    def refund(order_id: str, amount: float) -> str: ...
"""

from __future__ import annotations

import functools
import inspect
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict

from approvals.tls import tls_context

Outcome = Literal["approved", "edited", "rejected", "answered", "expired"]
GOES_AHEAD: frozenset[str] = frozenset({"approved", "edited"})

# The longest wait one GET holds (the server's limit); a longer wait is several.
LONGEST_POLL = 60.0

P = ParamSpec("P")
R = TypeVar("R")


class Decision(BaseModel):
    """What people decided: the outcome, the arguments the call may run with (None when it must not run), and
    the reason or reply they gave."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    outcome: Outcome
    arguments: dict[str, Any] | None = None
    message: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None


class Approval(BaseModel):
    """One approval as the API shows it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    agent: str | None = None
    tool: str | None = None
    status: str
    decision: Decision | None = None

    @property
    def decided(self) -> bool:
        """True once people (or the policy, or the deadline) decided it."""
        return self.decision is not None

    @property
    def goes_ahead(self) -> bool:
        """True when the call may run (with `decision.arguments`)."""
        return self.decision is not None and self.decision.outcome in GOES_AHEAD


class ApiError(Exception):
    """The API refused a request: `status`, its error `code`, and the `field` it names, if any."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.field = field


class Rejected(Exception):
    """People did not let the call run: rejected (with their reason), answered in its place, or expired."""

    def __init__(self, approval: Approval) -> None:
        decision = approval.decision
        reason = decision.message if decision and decision.message else approval.status
        super().__init__(f"{approval.tool or 'the call'} was not approved: {reason}")
        self.approval = approval
        self.reason = reason


class NotDecided(TimeoutError):
    """Nobody decided within the time the caller would wait; the approval stays open."""

    def __init__(self, approval: Approval) -> None:
        super().__init__(f"approval {approval.id} is still {approval.status}")
        self.approval = approval


class Countersign:
    """A client of one Countersign deployment, with one agent's API key."""

    def __init__(self, url: str, key: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout

    # The API, call by call

    def ask(
        self,
        tool: str,
        arguments: dict[str, Any],
        *,
        agent: str | None = None,
        context: dict[str, str] | None = None,
        requested_by: str | None = None,
        arguments_schema: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        callback_url: str | None = None,
    ) -> Approval:
        """Create an approval (stored before the answer) for the key's agent (or `agent`, which must be it); asking
        again with the same `idempotency_key` returns it. With `callback_url`, the decision is also POSTed there."""
        body = {
            "agent": agent,
            "tool": tool,
            "arguments": arguments,
            "context": context,
            "requested_by": requested_by,
            "arguments_schema": arguments_schema,
            "callback_url": callback_url,
            # Always sent: a retry after a lost answer must find the approval it created, not make another.
            "idempotency_key": idempotency_key or uuid.uuid4().hex,
        }
        return Approval.model_validate(self._call("POST", "/v1/approvals", {k: v for k, v in body.items() if v is not None}))

    def get(self, approval_id: str, wait: float = 0) -> Approval:
        """The approval as it stands, holding the answer up to `wait` seconds (at most 60) for a decision."""
        held = max(0, min(int(wait), int(LONGEST_POLL)))
        return Approval.model_validate(self._call("GET", f"/v1/approvals/{approval_id}?wait={held}", timeout=held + self.timeout))

    def report(self, approval_id: str, ok: bool, output: Any = None, error: str | None = None) -> None:
        """Tell Countersign what the call did (audited), for a review after the call."""
        self._call("POST", f"/v1/approvals/{approval_id}/result", {"ok": ok, "output": output, "error": error})

    # Asking and waiting

    def request_approval(self, tool: str, arguments: dict[str, Any], *, wait: float | None = None, **ask: Any) -> Approval:
        """Ask (with `ask`'s options), then wait until it is decided (or `wait` seconds pass: `NotDecided`); the
        decided approval."""
        approval = self.ask(tool, arguments, **ask)
        deadline = None if wait is None else time.monotonic() + wait
        while not approval.decided:
            left = LONGEST_POLL if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise NotDecided(approval)
            approval = self.get(approval.id, wait=min(left, LONGEST_POLL))
        return approval

    def gated(
        self,
        tool: str | None = None,
        *,
        agent: str | None = None,
        on_reject: Literal["raise", "return"] = "raise",
        arguments_schema: dict[str, Any] | None = None,
        wait: float | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R | str]]:
        """Gate a function: each call asks for approval of its arguments (by parameter name) as a call of `tool`
        (default: the function's name), and runs with the approved ones, possibly edited; when not approved,
        raises `Rejected` or (`on_reject="return"`) returns the reason instead. What it did is reported back."""

        def decorate(function: Callable[P, R]) -> Callable[P, R | str]:
            signature = inspect.signature(function)
            name = tool or function.__name__

            @functools.wraps(function)
            def gated_call(*args: P.args, **kwargs: P.kwargs) -> R | str:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                approval = self.request_approval(
                    name, dict(bound.arguments), agent=agent, arguments_schema=arguments_schema, wait=wait
                )
                if not approval.goes_ahead:
                    if on_reject == "return":
                        return Rejected(approval).reason
                    raise Rejected(approval)
                assert approval.decision is not None
                approved = approval.decision.arguments if approval.decision.arguments is not None else bound.arguments
                try:
                    result = function(**approved)  # type: ignore[call-arg]
                except Exception as error:
                    self.report(approval.id, ok=False, error=f"{type(error).__name__}: {error}")
                    raise
                self.report(approval.id, ok=True, output=_jsonable(result))
                return result

            return gated_call

        return decorate

    # HTTP

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout, context=tls_context()) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise _api_error(error) from None
        return json.loads(raw) if raw else None


def _api_error(error: urllib.error.HTTPError) -> ApiError:
    try:
        detail = json.loads(error.read() or b"{}").get("error") or {}
    except ValueError:
        detail = {}
    return ApiError(
        error.code, str(detail.get("code", "http_error")), str(detail.get("message", error.reason)), detail.get("field")
    )


def _jsonable(value: Any) -> Any:
    """`value` as the result report carries it: itself when JSON can hold it, else its text."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value
