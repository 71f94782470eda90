"""The recorded calls: every request the emulator answers, the failures and rate limits tests ask for,
and waiting for a call to arrive."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sandbox.web_api.core import DROPPED, EmulatorCore, Failure, RateLimit
from sandbox.web_api.records import Call, SlackApiFailure, copy_json

# Sent when a call is answered as rate limited, before any handler runs.
_RATELIMITED = {"ok": False, "error": "ratelimited"}
# The methods called with an app-level token (xapp-…), and only with one.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})


class RecordedCalls(EmulatorCore):
    """Answers each Web API call through ``_handlers`` and keeps it, for tests to inspect and wait on."""

    def rate_limit(
        self, method: str, times: int = 1, retry_after: int = 1, token: str | None = None, channel: str | None = None
    ) -> None:
        """Answer the next ``times`` calls to ``method`` (made with ``token``, if given: an app of its own; naming
        ``channel``, if given) with HTTP 429 and ``Retry-After``."""
        with self._lock:
            self._rate_limits[method] = RateLimit(times=times, retry_after=retry_after, token=token, channel=channel)

    def fail(
        self, method: str, error: str, times: int = 1, token: str | None = None, status: int = 200, channel: str | None = None
    ) -> None:
        """Answer the next ``times`` calls to ``method`` (made with ``token``, naming ``channel``, if given) with
        ``{"ok": false, "error": error}`` (HTTP `status`: 200 as Slack answers most errors, 5xx for its outages)."""
        with self._lock:
            self._failures.setdefault(method, []).extend([Failure(error, token, status, channel)] * times)

    def stop_failing(self, method: str) -> None:
        """Forget the failures and dropped connections still queued for ``method``."""
        with self._lock:
            self._failures.pop(method, None)

    def drop(self, method: str, times: int = 1, token: str | None = None, channel: str | None = None) -> None:
        """Close the connection of the next ``times`` calls to ``method`` (made with ``token``, naming ``channel``, if
        given) without answering (recorded with error ``connection_closed``)."""
        with self._lock:
            self._failures.setdefault(method, []).extend([Failure("connection_closed", token, DROPPED, channel)] * times)

    @property
    def calls(self) -> list[Call]:
        """Snapshot of every recorded call, oldest first."""
        with self._lock:
            return list(self._calls)

    def calls_since(self, position: int) -> list[Call]:
        """The recorded calls from `position` on, oldest first: a watcher keeps its place without copying them all."""
        with self._lock:
            return self._calls[position:]

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls to ``method`` (rate-limited attempts included), oldest first."""
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda call: True,
        timeout: float = 10.0,
        count: int = 1,
        *,
        include_rate_limited: bool = False,
    ) -> Any:
        """Block until ``count`` calls to ``method`` match ``predicate``.

        Returns the first matching :class:`Call` when ``count == 1``, else the
        list of the first ``count`` matches. Rate-limited attempts are skipped
        unless ``include_rate_limited``, because a test waiting for a post
        wants the one that landed. Raises ``TimeoutError`` listing what was
        recorded for ``method``.
        """
        deadline = time.monotonic() + timeout

        def matches() -> list[Call]:
            return [
                c for c in self._calls if c.method == method and (include_rate_limited or not c.rate_limited) and predicate(c)
            ]

        with self._changed:
            found = matches()
            while len(found) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    recorded = [c for c in self._calls if c.method == method]
                    listing = "\n".join(
                        f"  - params={c.params!r} rate_limited={c.rate_limited} response={c.response!r}" for c in recorded
                    )
                    raise TimeoutError(
                        f"timed out after {timeout}s waiting for {count} matching call(s) to {method!r}; "
                        f"{len(found)} matched, {len(recorded)} recorded"
                        + (f":\n{listing}" if listing else "")
                        + f"\nall methods called: {sorted({c.method for c in self._calls})}"
                    )
                self._changed.wait(remaining)
                found = matches()
        return found[0] if count == 1 else found[:count]

    def _handle(
        self, method: str, params: dict[str, Any], token: str | None, http_method: str
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Answer one API call; returns (HTTP status, extra headers, JSON body); status `DROPPED`: close the
        connection without an answer."""
        with self._lock:
            call = Call(method=method, params=params, time=time.monotonic(), token=token, http_method=http_method)
            headers: dict[str, str] = {}
            status = 200
            limit = self._rate_limits.get(method)
            failure = next((i for i, f in enumerate(self._failures.get(method, [])) if f.matches(token, params)), None)
            limited = limit is not None and limit.token in (None, token) and limit.channel in (None, params.get("channel"))
            if limit is not None and limited and limit.times > 0:
                limit.times -= 1
                if limit.times == 0:
                    del self._rate_limits[method]
                call.rate_limited = True
                status = 429
                headers["Retry-After"] = str(limit.retry_after)
                body = dict(_RATELIMITED)
            elif not token:
                body = {"ok": False, "error": "not_authed"}
            elif not token.startswith(("xox", "xapp-")):
                body = {"ok": False, "error": "invalid_auth"}
            elif token.startswith("xapp-") != (method in APP_TOKEN_METHODS):
                # An app-level token opens Socket Mode connections and nothing else; a bot token cannot open one.
                body = {"ok": False, "error": "not_allowed_token_type"}
            elif method == "chat.postMessage" and self._posted_too_fast(str(params.get("channel")), call.time):
                call.rate_limited = True
                status = 429
                headers["Retry-After"] = "1"
                body = dict(_RATELIMITED)
            elif failure is not None:
                failed = self._failures[method].pop(failure)
                status, body = failed.status, {"ok": False, "error": failed.error}
            elif method not in self._handlers:
                body = {"ok": False, "error": "unknown_method"}
            else:
                try:
                    body = self._handlers[method](params)
                except SlackApiFailure as failure:
                    body = failure.body()
            call.response = copy_json(body)
            self._calls.append(call)
            self._bump()
            return status, headers, body

    def _posted_too_fast(self, channel: str, now: float) -> bool:
        """Whether a post in `channel` now is past Slack's posting limit (`posts_a_second`, a token bucket holding
        `posting_burst`); a post within it is counted."""
        if self.posts_a_second is None:
            return False
        allowed, since = self._posting.get(channel, (float(self.posting_burst), now))
        allowed = min(float(self.posting_burst), allowed + (now - since) * self.posts_a_second)
        if allowed < 1:
            self._posting[channel] = (allowed, now)
            return True
        self._posting[channel] = (allowed - 1, now)
        return False
