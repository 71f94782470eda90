"""The approval API over WSGI: `POST /v1/approvals`, `GET /v1/approvals/{id}?wait=N`,
`POST /v1/approvals/{id}/result` (docs/api.md). Every answer is JSON; malformed input is a 4xx, never a 500."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import parse_qs

from pydantic import BaseModel, ValidationError

from api.bodies import Ask, Report
from api.service import Approvals, NotYours
from approvals.api_view import approval_json
from approvals.errors import ApprovalNotFound
from approvals.store.api_keys import ApiKey

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_WAIT_SECONDS = 60
_APPROVAL = re.compile(r"^/v1/approvals/([0-9a-f]{32})(/result)?$")
_PHRASES = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    500: "Internal Server Error",
}

StartResponse = Callable[..., Any]
B = TypeVar("B", bound=BaseModel)
T = TypeVar("T")


class ApiError(Exception):
    """An answer other than success: its status, code, message and the field it names, if any."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def body(self) -> dict[str, Any]:
        """The error as docs/api.md shows it."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


def _invalid(error: ValidationError) -> ApiError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    return ApiError(400, "invalid", f"{field}: {first['msg']}" if field else str(first["msg"]), field)


class ApiApp:
    """The WSGI application serving `/v1/`."""

    def __init__(self, approvals: Approvals, key_of: Callable[[str], ApiKey | None]) -> None:
        self.approvals = approvals
        self.key_of = key_of

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, body = self._route(environ)
        except ApiError as error:
            status, body = error.status, error.body()
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("approval API: %s %s failed (ref %s)", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), ref)
            status, body = 500, {"error": {"code": "internal", "message": f"the server failed; its log says more (ref {ref})"}}
        data = json.dumps(body).encode()
        start_response(f"{status} {_PHRASES[status]}", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def _route(self, environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        path, method = str(environ.get("PATH_INFO") or ""), str(environ.get("REQUEST_METHOD") or "")
        if path == "/v1/approvals":
            self._only(method, "POST")
            return self._ask(environ)
        match = _APPROVAL.match(path)
        if match is None:
            raise ApiError(404, "not_found", "no such route")
        approval_id, result = match[1], match[2]
        if result:
            self._only(method, "POST")
            agent = self._agent(environ)
            report = self._body(environ, Report)
            return 200, {"result": self._of(lambda: self.approvals.report(approval_id, agent, report))}
        self._only(method, "GET")
        agent = self._agent(environ)
        wait = _wait(environ)
        return 200, approval_json(self._of(lambda: self.approvals.wait(approval_id, agent, wait)))

    def _ask(self, environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        key = self._key(environ)
        # A key acts for one agent: a body that names none asks for the key's.
        ask = self._body(environ, Ask, {"agent": key.agent})
        if ask.agent != key.agent:
            raise ApiError(403, "forbidden", f"this key is for agent {key.agent!r}, not {ask.agent!r}", "agent")
        approval, new = self.approvals.ask(ask, key.id)
        return (201 if new else 200), approval_json(approval)

    @staticmethod
    def _only(method: str, allowed: str) -> None:
        if method != allowed:
            raise ApiError(405, "method_not_allowed", f"use {allowed} here")

    def _agent(self, environ: dict[str, Any]) -> str:
        """The agent the presented key acts for (401 without a valid one)."""
        return self._key(environ).agent

    def _key(self, environ: dict[str, Any]) -> ApiKey:
        """The presented key's record (401 without a valid one)."""
        scheme, _, key = str(environ.get("HTTP_AUTHORIZATION") or "").partition(" ")
        record = self.key_of(key.strip()) if scheme.lower() == "bearer" and key.strip() else None
        if record is None:
            raise ApiError(401, "unauthorized", "send a valid API key as `Authorization: Bearer <key>`")
        return record

    @staticmethod
    def _body(environ: dict[str, Any], model: type[B], defaults: dict[str, Any] | None = None) -> B:
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            raise ApiError(400, "invalid", "Content-Length is not a number") from None
        if length > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"the body is over {MAX_BODY_BYTES // 1024} KB")
        # Without a length (chunked), read one byte past the limit to know it was exceeded.
        raw = environ["wsgi.input"].read(length if length >= 0 else MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"the body is over {MAX_BODY_BYTES // 1024} KB")
        try:
            data = json.loads(raw, parse_constant=_not_json)
        except (ValueError, RecursionError):
            raise ApiError(400, "invalid", "the body is not JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "invalid", "the body must be a JSON object")
        try:
            return model.model_validate({**(defaults or {}), **data})
        except ValidationError as error:
            raise _invalid(error) from None

    @staticmethod
    def _of(work: Callable[[], T]) -> T:
        try:
            return work()
        except ApprovalNotFound:
            raise ApiError(404, "not_found", "there is no such approval") from None
        except NotYours:
            raise ApiError(403, "forbidden", "the approval belongs to another agent") from None


def _not_json(constant: str) -> Any:
    # Python reads NaN and Infinity; JSON has neither, and no database's JSON column takes them.
    raise ValueError(f"{constant} is not JSON")


def _wait(environ: dict[str, Any]) -> float:
    values = parse_qs(str(environ.get("QUERY_STRING") or "")).get("wait", ["0"])
    try:
        wait = float(values[-1])
    except ValueError:
        raise ApiError(400, "invalid", "wait: must be a number of seconds", "wait") from None
    if not 0 <= wait <= MAX_WAIT_SECONDS:
        raise ApiError(400, "invalid", f"wait: must be between 0 and {MAX_WAIT_SECONDS}", "wait")
    return wait
