"""Loopback emulator of the Slack Web API, for tests.

Point a real ``slack_sdk.WebClient(token="xoxb-...", base_url=emulator.base_url)``
at it: every call is recorded (see :class:`Call`) and the methods an approval
app needs (messages, threads, ephemerals, modals, permalinks, users) keep enough
state to answer the way Slack does, including Slack's error codes for the
mistakes worth catching in tests (re-used ``trigger_id``, unknown ``ts`` ...).

Example::

    with SlackEmulator() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        client.chat_postMessage(channel="C1", text="hi")
        call = slack.wait_for("chat.postMessage")
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Call", "SlackEmulator"]

TEAM_ID = "T0EMULATED"
TEAM_NAME = "Emulated"
TEAM_URL = "https://emulated.slack.com/"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
BOT_NAME = "countersign"
APP_ID = "A0EMULATED"

# Form-encoded clients send these as JSON strings; tests want objects.
_JSON_STRING_FIELDS = ("blocks", "view", "attachments", "metadata")

# Sent when a call is answered as rate limited, before any handler runs.
_RATELIMITED = {"ok": False, "error": "ratelimited"}


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


class SlackApiFailure(Exception):
    """Raised by a method handler to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class _RateLimit:
    times: int
    retry_after: int


@dataclass
class _State:
    # channel -> ts -> message; dicts keep insertion order, and ts grow monotonically.
    messages: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    used_trigger_ids: set[str] = field(default_factory=set)
    # user id -> the App Home view published for them
    home_views: dict[str, dict[str, Any]] = field(default_factory=dict)
    # user-group id -> {"id", "handle", "name", "users"}
    usergroups: dict[str, dict[str, Any]] = field(default_factory=dict)


class SlackEmulator:
    """A Slack Web API served on ``127.0.0.1`` from a daemon thread."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._state = _State()
        self._rate_limits: dict[str, _RateLimit] = {}
        self._failures: dict[str, list[str]] = {}
        self._ts_counter = itertools.count(1)
        self._id_counter = itertools.count(1)
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.replies": self._conversations_replies,
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SlackEmulator:
        """Bind a free port and serve in a daemon thread. Returns ``self``."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self._host, 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="slack-emulator", kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("SlackEmulator is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """Value for ``WebClient(base_url=...)``, e.g. ``http://127.0.0.1:PORT/api/``."""
        return f"http://{self._host}:{self.port}/api/"

    def response_url(self, name: str = "default") -> str:
        """A loopback ``response_url`` for driver payloads.

        POSTs to it are recorded as calls to method ``"response_url"`` with
        the JSON body as params plus ``"_name": name``.
        """
        return f"http://{self._host}:{self.port}/response/{name}"

    # ------------------------------------------------------------------ test controls

    def reset(self) -> None:
        """Forget recorded calls, stored messages/views, rate limits and failures."""
        with self._lock:
            self._calls.clear()
            self._state = _State()
            self._rate_limits.clear()
            self._failures.clear()
            self._changed.notify_all()

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls to ``method`` with HTTP 429 and ``Retry-After``."""
        with self._lock:
            self._rate_limits[method] = _RateLimit(times=times, retry_after=retry_after)

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``method`` with ``{"ok": false, "error": error}`` (HTTP 200)."""
        with self._lock:
            self._failures.setdefault(method, []).extend([error] * times)

    # ------------------------------------------------------------------ inspection

    @property
    def calls(self) -> list[Call]:
        """Snapshot of every recorded call, oldest first."""
        with self._lock:
            return list(self._calls)

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
                c
                for c in self._calls
                if c.method == method and (include_rate_limited or not c.rate_limited) and predicate(c)
            ]

        with self._changed:
            found = matches()
            while len(found) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    recorded = [c for c in self._calls if c.method == method]
                    listing = "\n".join(
                        f"  - params={c.params!r} rate_limited={c.rate_limited} response={c.response!r}"
                        for c in recorded
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

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Current state of every message stored in ``channel`` (thread replies included), by ts."""
        with self._lock:
            return [_copy(m) for m in self._state.messages.get(channel, {}).values()]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """Current state of one stored message; ``KeyError`` if unknown."""
        with self._lock:
            return _copy(self._state.messages[channel][ts])

    def thread_replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Replies in the thread rooted at ``thread_ts`` (parent excluded), by ts."""
        with self._lock:
            return [
                _copy(m)
                for m in self._state.messages.get(channel, {}).values()
                if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts
            ]

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages sent, optionally filtered by channel and user."""
        with self._lock:
            return [
                _copy(m)
                for m in self._state.ephemerals
                if (channel is None or m["channel"] == channel) and (user is None or m["user"] == user)
            ]

    def views(self) -> dict[str, dict[str, Any]]:
        """Current state of every view opened/pushed/updated, by view id."""
        with self._lock:
            return {k: _copy(v) for k, v in self._state.views.items()}

    # ------------------------------------------------------------------ request handling

    def _handle(
        self, method: str, params: dict[str, Any], token: str | None, http_method: str
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Answer one API call; returns (HTTP status, extra headers, JSON body)."""
        with self._lock:
            call = Call(method=method, params=params, time=time.monotonic(), token=token, http_method=http_method)
            headers: dict[str, str] = {}
            status = 200
            limit = self._rate_limits.get(method)
            if limit is not None and limit.times > 0:
                limit.times -= 1
                if limit.times == 0:
                    del self._rate_limits[method]
                call.rate_limited = True
                status = 429
                headers["Retry-After"] = str(limit.retry_after)
                body = dict(_RATELIMITED)
            elif not token:
                body = {"ok": False, "error": "not_authed"}
            elif not token.startswith("xox"):
                body = {"ok": False, "error": "invalid_auth"}
            elif self._failures.get(method):
                body = {"ok": False, "error": self._failures[method].pop(0)}
            elif method not in self._handlers:
                body = {"ok": False, "error": "unknown_method"}
            else:
                try:
                    body = self._handlers[method](params)
                except SlackApiFailure as failure:
                    body = {"ok": False, "error": failure.error}
            call.response = _copy(body)
            self._calls.append(call)
            self._changed.notify_all()
            return status, headers, body

    def _record_response_url(self, name: str, params: dict[str, Any]) -> None:
        with self._lock:
            self._calls.append(
                Call(
                    method="response_url",
                    params={**params, "_name": name},
                    time=time.monotonic(),
                    token=None,
                    response={"ok": True},
                )
            )
            self._changed.notify_all()

    # ------------------------------------------------------------------ id generation

    def _next_ts(self) -> str:
        # 100µs steps from a fixed epoch: unique, sortable as strings and as floats.
        micros = 1_700_000_000_000_000 + next(self._ts_counter) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}0EMU{next(self._id_counter):06d}"

    # ------------------------------------------------------------------ methods

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": TEAM_URL,
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    @staticmethod
    def _require_content(params: dict[str, Any]) -> None:
        if not params.get("text") and not params.get("blocks") and not params.get("attachments"):
            raise SlackApiFailure("no_text")

    @staticmethod
    def _content(params: dict[str, Any]) -> dict[str, Any]:
        content: dict[str, Any] = {"text": params.get("text") or ""}
        for key in ("blocks", "attachments", "metadata"):
            if params.get(key) is not None:
                content[key] = params[key]
        return content

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            raise SlackApiFailure("channel_not_found")
        self._require_content(params)
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": ts,
            **self._content(params),
        }
        thread_ts = params.get("thread_ts")
        channel_messages = self._state.messages.setdefault(channel, {})
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
            parent = channel_messages.get(str(thread_ts))
            if parent is not None:
                # Slack maintains these on the parent once it has replies.
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = ts
                parent["reply_users"] = sorted({*parent.get("reply_users", []), BOT_USER_ID})
                parent["reply_users_count"] = len(parent["reply_users"])
        channel_messages[ts] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": _copy(message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            raise SlackApiFailure("channel_not_found")
        ts = str(params.get("ts") or "")
        message = self._state.messages.get(channel, {}).get(ts)
        if message is None:
            raise SlackApiFailure("message_not_found")
        self._require_content(params)
        if "text" in params:
            message["text"] = params["text"] or ""
        for key in ("blocks", "attachments", "metadata"):
            if key in params:
                message[key] = params[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": _copy(message)}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            raise SlackApiFailure("channel_not_found")
        if not params.get("user"):
            raise SlackApiFailure("user_not_found")
        self._require_content(params)
        ts = self._next_ts()
        self._state.ephemerals.append(
            {"channel": channel, "user": params["user"], "ts": ts, "thread_ts": params.get("thread_ts"),
             **self._content(params)}
        )
        return {"ok": True, "message_ts": ts}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            raise SlackApiFailure("channel_not_found")
        ts = str(params.get("message_ts") or "")
        if not ts:
            raise SlackApiFailure("message_not_found")
        permalink = f"{TEAM_URL}archives/{channel}/p{ts.replace('.', '')}"
        stored = self._state.messages.get(channel, {}).get(ts)
        if stored is not None and stored.get("thread_ts") not in (None, ts):
            permalink += f"?thread_ts={stored['thread_ts']}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": permalink}

    def _consume_trigger(self, params: dict[str, Any]) -> None:
        trigger_id = params.get("trigger_id") or params.get("interactivity_pointer")
        if not trigger_id:
            raise SlackApiFailure("invalid_arguments")
        if trigger_id in self._state.used_trigger_ids:
            raise SlackApiFailure("expired_trigger_id")
        self._state.used_trigger_ids.add(trigger_id)

    def _store_view(self, view: Any, view_id: str, root_view_id: str, previous_view_id: str | None) -> dict[str, Any]:
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise SlackApiFailure("invalid_arguments")
        stored: dict[str, Any] = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view["type"],
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "clear_on_close": False,
            "notify_on_close": False,
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id,
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
            **_copy(view),
        }
        # Slack owns these; whatever the app sent for them is not echoed back.
        stored["id"] = view_id
        stored["state"] = {"values": {}}
        stored["hash"] = hashlib.sha1(f"{view_id}:{self._next_ts()}".encode()).hexdigest()[:16]
        self._state.views[view_id] = stored
        return _copy(stored)

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        self._consume_trigger(params)
        view_id = self._next_id("V")
        return {"ok": True, "view": self._store_view(params.get("view"), view_id, view_id, None)}

    def _views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        self._consume_trigger(params)
        view_id = self._next_id("V")
        # The emulator does not know which view the trigger came from; the latest one is the likely root.
        previous = next(reversed(self._state.views), None)
        root = self._state.views[previous]["root_view_id"] if previous else view_id
        return {"ok": True, "view": self._store_view(params.get("view"), view_id, root, previous)}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = params.get("view_id")
        external_id = params.get("external_id")
        if not view_id and external_id:
            view_id = next((k for k, v in self._state.views.items() if v.get("external_id") == external_id), None)
        if not view_id:
            raise SlackApiFailure("not_found" if external_id else "invalid_arguments")
        current = self._state.views.get(view_id)
        if current is None:
            raise SlackApiFailure("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            raise SlackApiFailure("hash_conflict")
        view = self._store_view(params.get("view"), view_id, current["root_view_id"], current["previous_view_id"])
        return {"ok": True, "view": view}

    def home_view(self, user_id: str) -> dict[str, Any]:
        """The App Home view last published for a user (KeyError if none)."""
        with self._lock:
            return _copy(self._state.home_views[user_id])

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user_id")
        view = params.get("view")
        if not user_id or not isinstance(view, dict):
            raise SlackApiFailure("invalid_arguments")
        if view.get("type") != "home":
            raise SlackApiFailure("invalid_arguments")
        stored = {**view, "id": self._state.home_views.get(user_id, {}).get("id") or self._next_id("V")}
        self._state.home_views[user_id] = stored
        return {"ok": True, "view": _copy(stored)}

    def add_usergroup(self, handle: str, users: list[str]) -> str:
        """Create (or replace) a user group with these members; returns its id (S…)."""
        with self._lock:
            existing = next((g for g in self._state.usergroups.values() if g["handle"] == handle), None)
            group_id = existing["id"] if existing else self._next_id("S")
            self._state.usergroups[group_id] = {
                "id": group_id,
                "team_id": TEAM_ID,
                "handle": handle,
                "name": handle.replace("-", " ").title(),
                "users": list(users),
                "user_count": len(users),
            }
            return group_id

    def _usergroups_list(self, params: dict[str, Any]) -> dict[str, Any]:
        groups = [{k: v for k, v in g.items() if k != "users"} for g in self._state.usergroups.values()]
        return {"ok": True, "usergroups": groups}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = self._state.usergroups.get(str(params.get("usergroup")))
        if group is None:
            raise SlackApiFailure("no_such_subteam")
        return {"ok": True, "users": list(group["users"])}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user")
        if not user_id:
            raise SlackApiFailure("user_not_found")
        real_name = f"User {user_id}"
        return {
            "ok": True,
            "user": {
                "id": user_id,
                "team_id": TEAM_ID,
                "name": str(user_id).lower(),
                "deleted": False,
                "real_name": real_name,
                "tz": "Europe/Paris",
                "tz_label": "Central European Time",
                "tz_offset": 3600,
                "is_bot": user_id == BOT_USER_ID,
                "is_admin": False,
                "profile": {
                    "real_name": real_name,
                    "display_name": str(user_id).lower(),
                    "real_name_normalized": real_name,
                    "display_name_normalized": str(user_id).lower(),
                    "email": f"{str(user_id).lower()}@emulated.example",
                    "team": TEAM_ID,
                },
            },
        }

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel or channel not in self._state.messages:
            raise SlackApiFailure("channel_not_found")
        ts = str(params.get("ts") or "")
        channel_messages = self._state.messages[channel]
        if ts not in channel_messages:
            raise SlackApiFailure("thread_not_found")
        parent = channel_messages[ts]
        # Asking with a reply's ts returns that reply's whole thread, as Slack does.
        root = parent.get("thread_ts") or ts
        thread = [m for m in channel_messages.values() if m["ts"] == root or m.get("thread_ts") == root]
        return {
            "ok": True,
            "messages": [_copy(m) for m in thread],
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }


# ---------------------------------------------------------------------- HTTP layer


def _make_handler(emulator: SlackEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "SlackEmulator/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # keep test output clean

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            self._dispatch("POST")

        def _dispatch(self, http_method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                params = dict(parse_qsl(url.query, keep_blank_values=True))
                params.update(_decode_body(self.headers.get("Content-Type", ""), raw))
            except ValueError as exc:
                self._send(200, {}, {"ok": False, "error": "invalid_json" if raw[:1] in b"{[" else "invalid_form_data",
                                     "detail": str(exc)})
                return
            for key in _JSON_STRING_FIELDS:
                if isinstance(params.get(key), str) and params[key][:1] in ("[", "{"):
                    try:
                        params[key] = json.loads(params[key])
                    except ValueError:
                        pass  # Slack would reject it; leave it visible to the test as sent
            if url.path.startswith("/response/") and http_method == "POST":
                emulator._record_response_url(url.path[len("/response/"):], params)
                self._send(200, {}, {"ok": True})
                return
            if not url.path.startswith("/api/") or len(url.path) <= len("/api/"):
                self._send(404, {}, {"ok": False, "error": "not_found"})
                return
            method = url.path[len("/api/"):]
            token = _bearer(self.headers.get("Authorization")) or params.pop("token", None)
            params.pop("token", None)
            status, headers, body = emulator._handle(method, params, token, http_method)
            self._send(status, headers, body)

        def _send(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _decode_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """Decode a request body the way Slack accepts them: JSON, urlencoded or multipart."""
    if not raw:
        return {}
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/json":
        decoded = json.loads(raw.decode("utf-8"))
        if not isinstance(decoded, dict):
            raise ValueError("JSON body must be an object")
        return decoded
    if mime == "multipart/form-data":
        # slack_sdk uses multipart whenever a method is called with data=...
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
        )
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            payload = part.get_payload(decode=True) or b""
            fields[str(name)] = payload if part.get_filename() else payload.decode("utf-8")
        return fields
    return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))


def _copy(value: Any) -> Any:
    """Deep copy of JSON-shaped data, so tests can't mutate emulator state by accident."""
    return json.loads(json.dumps(value))
