"""Loopback emulator of the Slack Web API: the tests' Slack, and the sandbox's.

Point a real ``slack_sdk.WebClient(token="xoxb-...", base_url=emulator.base_url)``
at it: every call is recorded (see :class:`Call`) and the methods an approval
app needs (messages, threads, ephemerals, modals, App Home, permalinks, users,
user groups, channel members) keep enough state to answer the way Slack does, including Slack's
error codes for the mistakes worth catching (re-used ``trigger_id``, unknown
``ts``, Block Kit that Slack would refuse: ``invalid_blocks``, ``invalid_arguments``).

The sandbox page plays the Slack client on top of it: it issues the ``trigger_id``
and ``response_url`` of each interaction (:meth:`SlackEmulator.issue_trigger`,
:meth:`SlackEmulator.response_url_for`), so modals open for the person who clicked
and replies land where Slack would put them, and it reads the whole workspace back
with :meth:`SlackEmulator.snapshot`.

Example::

    with SlackEmulator() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        client.chat_postMessage(channel="C1", text="hi")
        call = slack.wait_for("chat.postMessage")
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.block_kit import MAX_MESSAGE_BLOCKS, MAX_TEXT_CHARS, block_problems, view_problems

__all__ = ["Call", "Channel", "SlackApiFailure", "SlackEmulator", "User"]

TEAM_ID = "T0EMULATED"
TEAM_NAME = "Emulated"
TEAM_URL = "https://emulated.slack.com/"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
BOT_NAME = "countersign"
APP_ID = "A0EMULATED"

# Slack lets an app use a trigger_id for 3 seconds, once.
TRIGGER_TTL_SECONDS = 3.0
# A modal holds at most three views stacked.
MAX_VIEW_STACK = 3
# Slack's response_url works for 30 minutes.
RESPONSE_URL_TTL_SECONDS = 30 * 60

# Form-encoded clients send these as JSON strings; tests want objects.
_JSON_STRING_FIELDS = ("blocks", "view", "attachments", "metadata")

# conversations.members answers this many members a page unless asked for another `limit` (Slack: 100, at most 1000).
MEMBERS_PAGE_DEFAULT = 100
MEMBERS_PAGE_MAX = 1000

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


@dataclass
class _RateLimit:
    times: int
    retry_after: int
    token: str | None


@dataclass
class _Trigger:
    """Who a trigger_id was issued to (and from which modal), so views open on their screen."""

    user: str
    view_id: str | None
    issued_at: float


@dataclass
class _ResponseTarget:
    """Where a response_url's posts land: the channel and person of the interaction."""

    channel: str
    user: str
    message_ts: str | None = None
    thread_ts: str | None = None
    issued_at: float = field(default_factory=time.monotonic)


@dataclass
class _State:
    # channel -> ts -> message; dicts keep insertion order, and ts grow monotonically.
    messages: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    used_trigger_ids: set[str] = field(default_factory=set)
    # trigger ids issued by the Slack client side (the sandbox page), by id
    triggers: dict[str, _Trigger] = field(default_factory=dict)
    # response_url name -> where its posts go (names issued by response_url_for)
    response_targets: dict[str, _ResponseTarget] = field(default_factory=dict)
    # user id -> ids of the modal views open on their screen, bottom first
    modal_stacks: dict[str, list[str]] = field(default_factory=dict)
    # user id -> the App Home view published for them
    home_views: dict[str, dict[str, Any]] = field(default_factory=dict)
    # user-group id -> {"id", "handle", "name", "users"}
    usergroups: dict[str, dict[str, Any]] = field(default_factory=dict)


class SlackEmulator:
    """A Slack Web API served on ``127.0.0.1`` from a daemon thread.

    ``users`` and ``channels`` name the workspace's members and channels (``users.info``
    answers with them; anyone else gets a generated profile, as tests click as users of
    their own).
    """

    def __init__(self, host: str = "127.0.0.1", *, users: Iterable[User] = (), channels: Iterable[Channel] = ()) -> None:
        self._host = host
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._version = 0
        self._calls: list[Call] = []
        self._state = _State()
        self._users = {user.id: user for user in users}
        self._channels = {channel.id: channel for channel in channels}
        # channel id -> its members, in the order they joined (the app first), and those who left it
        self._members: dict[str, dict[str, None]] = {
            channel.id: dict.fromkeys([BOT_USER_ID, *channel.members]) for channel in channels
        }
        self._left: dict[str, set[str]] = {channel.id: set() for channel in channels}
        # Members of the workspace: the listed users, and whoever the tests or the page act as (`add_member`).
        self._workspace: dict[str, None] = dict.fromkeys(self._users)
        self._rate_limits: dict[str, _RateLimit] = {}
        self._failures: dict[str, list[tuple[str, str | None]]] = {}
        self._last_ts = 0
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
            "conversations.members": self._conversations_members,
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self, port: int = 0) -> SlackEmulator:
        """Bind ``port`` (default: a free one) and serve in a daemon thread. Returns ``self``."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self._host, port), _make_handler(self))
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
            self._bump()

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1, token: str | None = None) -> None:
        """Answer the next ``times`` calls to ``method`` (made with ``token``, if given: an app of its own)
        with HTTP 429 and ``Retry-After``."""
        with self._lock:
            self._rate_limits[method] = _RateLimit(times=times, retry_after=retry_after, token=token)

    def fail(self, method: str, error: str, times: int = 1, token: str | None = None) -> None:
        """Answer the next ``times`` calls to ``method`` (made with ``token``, if given) with
        ``{"ok": false, "error": error}`` (HTTP 200)."""
        with self._lock:
            self._failures.setdefault(method, []).extend([(error, token)] * times)

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
            self._bump()
            return group_id

    def add_member(self, user_id: str) -> None:
        """Count ``user_id`` among the workspace's members (so among those of its ``everyone`` channels)."""
        with self._lock:
            if user_id not in self._workspace:
                self._workspace[user_id] = None
                self._bump()

    def add_channel(self, channel: Channel) -> None:
        """List a channel in the workspace (or list it again, with these members), the app among them."""
        with self._lock:
            self._channels[channel.id] = channel
            self._members[channel.id] = dict.fromkeys([BOT_USER_ID, *channel.members])
            self._left[channel.id] = set()
            self._bump()

    def join(self, channel: str, *users: str) -> None:
        """Make `users` members of a listed channel (``KeyError`` if the workspace does not list it)."""
        with self._lock:
            self._members[channel].update(dict.fromkeys(users))
            self._left[channel].difference_update(users)
            self._bump()

    def leave(self, channel: str, *users: str) -> None:
        """Take `users` out of a listed channel (``BOT_USER_ID`` too: then the app may not list its members)."""
        with self._lock:
            for user in users:
                self._members[channel].pop(user, None)
            self._left[channel].update(users)
            self._bump()

    def channel_members(self, channel: str) -> list[str]:
        """The members of a listed channel, in the order they joined (``KeyError`` if the workspace does not list it)."""
        with self._lock:
            everyone = self._workspace if self._channels[channel].everyone else {}
            return [user for user in {**self._members[channel], **everyone} if user not in self._left[channel]]

    # ------------------------------------------------------------------ inspection

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

    def home_view(self, user_id: str) -> dict[str, Any]:
        """The App Home view last published for a user (KeyError if none)."""
        with self._lock:
            return _copy(self._state.home_views[user_id])

    def modal_stack(self, user_id: str) -> list[dict[str, Any]]:
        """The modal views open on a user's screen, bottom first (empty when none is open)."""
        with self._lock:
            return [_copy(self._state.views[v]) for v in self._state.modal_stacks.get(user_id, [])]

    def user(self, user_id: str) -> User:
        """A workspace member by id (a generated profile for ids the workspace does not list)."""
        return self._users.get(user_id) or User(id=user_id, name=user_id.lower(), real_name=f"User {user_id}")

    def channel_name(self, channel_id: str) -> str:
        """A channel's name (its lower-cased id for channels the workspace does not list)."""
        channel = self._channels.get(channel_id)
        return channel.name if channel else channel_id.lower()

    # ------------------------------------------------------------------ live view for the sandbox page

    @property
    def version(self) -> int:
        """A number that grows with every change to what Slack would show."""
        with self._lock:
            return self._version

    def wait_for_change(self, version: int, timeout: float) -> int:
        """Block until the state moves past ``version`` (or ``timeout`` passes); the current version."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._version <= version:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return self._version

    def snapshot(self) -> dict[str, Any]:
        """Everything a Slack client would draw, as JSON-ready data, with its version.

        Channels are the listed ones plus any that holds a message, in that order; each
        message carries its thread's replies under ``replies``.
        """
        with self._lock:
            channel_ids = list(dict.fromkeys([*self._channels, *self._state.messages]))
            channels = []
            for channel_id in channel_ids:
                stored = self._state.messages.get(channel_id, {})
                top = [m for m in stored.values() if m.get("thread_ts") in (None, m["ts"])]
                messages = []
                for message in top:
                    replies = [r for r in stored.values() if r.get("thread_ts") == message["ts"] and r is not message]
                    messages.append({**message, "replies": replies})
                channels.append({"id": channel_id, "name": self.channel_name(channel_id), "messages": messages})
            known_users = dict(self._users)
            for group in self._state.usergroups.values():
                for member in group["users"]:
                    known_users.setdefault(member, self.user(member))
            return _copy(
                {
                    "version": self._version,
                    "team": {"id": TEAM_ID, "name": TEAM_NAME, "url": TEAM_URL},
                    "bot": {"user_id": BOT_USER_ID, "name": BOT_NAME},
                    "users": [asdict(u) for u in known_users.values()],
                    "usergroups": list(self._state.usergroups.values()),
                    "channels": channels,
                    "ephemerals": self._state.ephemerals,
                    "home_views": self._state.home_views,
                    "modals": {
                        user: [self._state.views[v] for v in stack] for user, stack in self._state.modal_stacks.items() if stack
                    },
                }
            )

    # ------------------------------------------------------------------ the Slack client's side (sandbox page)

    def issue_trigger(self, user_id: str, view_id: str | None = None) -> str:
        """A fresh ``trigger_id`` for an interaction by ``user_id`` (from modal ``view_id``, if any).

        A view the app opens or pushes with it appears on that user's screen; like Slack's,
        it works once, within 3 seconds.
        """
        trigger_id = f"{int(time.time())}.{next(self._id_counter):09d}.{secrets.token_hex(16)}"
        now = time.monotonic()
        with self._lock:
            # Most clicks open nothing: forget the triggers that can no longer be used.
            triggers = self._state.triggers
            for stale in [t for t, issued in triggers.items() if now - issued.issued_at > TRIGGER_TTL_SECONDS]:
                del triggers[stale]
            triggers[trigger_id] = _Trigger(user=user_id, view_id=view_id, issued_at=now)
        return trigger_id

    def response_url_for(self, channel: str, user_id: str, *, message_ts: str | None = None, thread_ts: str | None = None) -> str:
        """A ``response_url`` for an interaction by ``user_id`` in ``channel`` (on message ``message_ts``).

        What the app posts to it shows where Slack would show it: to that user only
        (ephemeral, the default), in the channel (``response_type: in_channel``), or in place
        of the message (``replace_original`` / ``delete_original``).
        """
        name = secrets.token_hex(12)
        now = time.monotonic()
        with self._lock:
            targets = self._state.response_targets
            for stale in [n for n, t in targets.items() if now - t.issued_at > RESPONSE_URL_TTL_SECONDS]:
                del targets[stale]
            targets[name] = _ResponseTarget(channel, user_id, message_ts, thread_ts)
        return self.response_url(name)

    def post_ephemeral(
        self,
        channel: str,
        user_id: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> None:
        """Show the app's answer to one user only, as Slack shows the reply to a slash command."""
        with self._lock:
            self._add_ephemeral(
                {
                    "channel": channel,
                    "user": user_id,
                    "thread_ts": thread_ts,
                    "text": text,
                    **({"blocks": blocks} if blocks else {}),
                }
            )
            self._bump()

    def post_as_user(self, channel: str, user_id: str, text: str, thread_ts: str | None = None) -> str:
        """A message typed by a person (not the app) in ``channel``; returns its ts."""
        with self._lock:
            ts = self._next_ts()
            message = {"type": "message", "user": user_id, "team": TEAM_ID, "ts": ts, "text": text}
            self._store_message(channel, message, thread_ts, author=user_id)
            self._bump()
            return ts

    def deliver_response(self, response_url: str, body: dict[str, Any]) -> dict[str, Any]:
        """Show ``body`` as if the app had posted it to ``response_url`` (one from :meth:`response_url_for`);
        what Slack answers."""
        return self._handle_response_url(response_url.rstrip("/").rsplit("/", 1)[-1], _copy(body))[1]

    def close_view(self, user_id: str, view_id: str, *, close_all: bool = False) -> list[dict[str, Any]]:
        """Take ``view_id`` (and the views above it, or every view with ``close_all``) off the user's
        screen; returns the views closed, top first."""
        with self._lock:
            stack = self._state.modal_stacks.get(user_id, [])
            if view_id not in stack:
                return []
            cut = 0 if close_all else stack.index(view_id)
            closed = [_copy(self._state.views[v]) for v in reversed(stack[cut:])]
            del stack[cut:]
            self._bump()
            return closed

    def replace_view(self, view_id: str, view: Any) -> dict[str, Any]:
        """Replace a modal view in place (``response_action: update``); ``SlackApiFailure`` if Slack would refuse it."""
        with self._lock:
            current = self._state.views.get(view_id)
            if current is None:
                raise SlackApiFailure("not_found")
            stored = self._store_view(view, view_id, current["root_view_id"], current["previous_view_id"])
            self._bump()
            return stored

    def push_view(self, user_id: str, view: Any) -> dict[str, Any]:
        """Push a view on the user's modal stack (``response_action: push``)."""
        with self._lock:
            stored = self._push(user_id, view)
            self._bump()
            return stored

    def save_view_state(self, view_id: str, values: dict[str, Any]) -> None:
        """Remember what the user has typed in a modal, as Slack keeps it in ``view.state``."""
        with self._lock:
            if view_id in self._state.views:
                self._state.views[view_id]["state"] = {"values": _copy(values)}

    # ------------------------------------------------------------------ request handling

    def _bump(self) -> None:
        # Called with the lock held, after any change the page would draw.
        self._version += 1
        self._changed.notify_all()

    def _handle(
        self, method: str, params: dict[str, Any], token: str | None, http_method: str
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Answer one API call; returns (HTTP status, extra headers, JSON body)."""
        with self._lock:
            call = Call(method=method, params=params, time=time.monotonic(), token=token, http_method=http_method)
            headers: dict[str, str] = {}
            status = 200
            limit = self._rate_limits.get(method)
            failure = next(
                (i for i, (_, only) in enumerate(self._failures.get(method, [])) if only is None or only == token), None
            )
            if limit is not None and limit.times > 0 and limit.token in (None, token):
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
            elif failure is not None:
                body = {"ok": False, "error": self._failures[method].pop(failure)[0]}
            elif method not in self._handlers:
                body = {"ok": False, "error": "unknown_method"}
            else:
                try:
                    body = self._handlers[method](params)
                except SlackApiFailure as failure:
                    body = failure.body()
            call.response = _copy(body)
            self._calls.append(call)
            self._bump()
            return status, headers, body

    def _handle_response_url(self, name: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Record a POST to a response_url and, for one issued by `response_url_for`, show it."""
        with self._lock:
            body: dict[str, Any] = {"ok": True}
            status = 200
            target = self._state.response_targets.get(name)
            if target is not None:
                try:
                    self._respond(target, params)
                except SlackApiFailure as failure:
                    status, body = 400, failure.body()
            self._calls.append(
                Call(
                    method="response_url",
                    params={**params, "_name": name},
                    time=time.monotonic(),
                    token=None,
                    response=_copy(body),
                )
            )
            self._bump()
            return status, body

    def _respond(self, target: _ResponseTarget, params: dict[str, Any]) -> None:
        stored = self._state.messages.get(target.channel, {})
        original = stored.get(target.message_ts or "")
        if _truthy(params.get("delete_original")) and original is not None:
            del stored[original["ts"]]
            return
        self._check_message(params)
        if _truthy(params.get("replace_original")) and original is not None:
            original.update(self._content(params))
            original["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
            return
        thread_ts = params.get("thread_ts") or target.thread_ts
        if params.get("response_type") == "in_channel":
            ts = self._next_ts()
            message = {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "app_id": APP_ID,
                "team": TEAM_ID,
                "ts": ts,
                **self._content(params),
            }
            self._store_message(target.channel, message, thread_ts, author=BOT_USER_ID)
            return
        self._add_ephemeral({"channel": target.channel, "user": target.user, "thread_ts": thread_ts, **self._content(params)})

    # ------------------------------------------------------------------ id generation

    def _next_ts(self) -> str:
        # Slack's ts is the epoch in microseconds; kept strictly increasing so every ts is unique.
        micros = max(int(time.time() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
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
    def _check_message(params: dict[str, Any]) -> None:
        """Refuse, with Slack's error, a message Slack would not take."""
        blocks = params.get("blocks")
        if not params.get("text") and not blocks and not params.get("attachments"):
            raise SlackApiFailure("no_text")
        if blocks is not None and not isinstance(blocks, list):
            raise SlackApiFailure("invalid_blocks_format")
        problems = block_problems(blocks, MAX_MESSAGE_BLOCKS)
        if problems:
            raise SlackApiFailure("invalid_blocks", problems)
        if len(str(params.get("text") or "")) > MAX_TEXT_CHARS:
            raise SlackApiFailure("msg_too_long")

    @staticmethod
    def _content(params: dict[str, Any]) -> dict[str, Any]:
        content: dict[str, Any] = {"text": params.get("text") or ""}
        for key in ("blocks", "attachments", "metadata"):
            if params.get(key) is not None:
                content[key] = params[key]
        return content

    def _store_message(self, channel: str, message: dict[str, Any], thread_ts: Any, *, author: str) -> None:
        channel_messages = self._state.messages.setdefault(channel, {})
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
            parent = channel_messages.get(str(thread_ts))
            if parent is not None:
                # Slack maintains these on the parent once it has replies.
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = message["ts"]
                parent["reply_users"] = sorted({*parent.get("reply_users", []), author})
                parent["reply_users_count"] = len(parent["reply_users"])
        channel_messages[message["ts"]] = message

    def _add_ephemeral(self, message: dict[str, Any]) -> str:
        ts = self._next_ts()
        self._state.ephemerals.append({"type": "message", "ts": ts, **message})
        return ts

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            raise SlackApiFailure("channel_not_found")
        self._check_message(params)
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
        self._store_message(channel, message, params.get("thread_ts"), author=BOT_USER_ID)
        return {"ok": True, "channel": channel, "ts": ts, "message": _copy(message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            raise SlackApiFailure("channel_not_found")
        ts = str(params.get("ts") or "")
        message = self._state.messages.get(channel, {}).get(ts)
        if message is None:
            raise SlackApiFailure("message_not_found")
        self._check_message(params)
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
        self._check_message(params)
        ts = self._add_ephemeral(
            {"channel": channel, "user": params["user"], "thread_ts": params.get("thread_ts"), **self._content(params)}
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

    def _consume_trigger(self, params: dict[str, Any]) -> _Trigger | None:
        """Use up a trigger_id; who it was issued to, when the Slack client side issued it."""
        trigger_id = params.get("trigger_id") or params.get("interactivity_pointer")
        if not trigger_id:
            raise SlackApiFailure("invalid_arguments")
        if trigger_id in self._state.used_trigger_ids:
            raise SlackApiFailure("expired_trigger_id")
        issued = self._state.triggers.pop(trigger_id, None)
        if issued is not None and time.monotonic() - issued.issued_at > TRIGGER_TTL_SECONDS:
            raise SlackApiFailure("expired_trigger_id")
        self._state.used_trigger_ids.add(trigger_id)
        return issued

    def _store_view(self, view: Any, view_id: str, root_view_id: str, previous_view_id: str | None) -> dict[str, Any]:
        problems = view_problems(view, ("modal",))
        if problems:
            raise SlackApiFailure("invalid_arguments", problems)
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
        stored["root_view_id"] = root_view_id
        stored["previous_view_id"] = previous_view_id
        stored["state"] = {"values": {}}
        stored["hash"] = hashlib.sha1(f"{view_id}:{self._next_ts()}".encode()).hexdigest()[:16]
        self._state.views[view_id] = stored
        return _copy(stored)

    def _push(self, user_id: str, view: Any) -> dict[str, Any]:
        stack = self._state.modal_stacks.setdefault(user_id, [])
        if len(stack) >= MAX_VIEW_STACK:
            raise SlackApiFailure("push_limit_reached")
        view_id = self._next_id("V")
        root = stack[0] if stack else view_id
        stored = self._store_view(view, view_id, root, stack[-1] if stack else None)
        stack.append(view_id)
        return stored

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = self._consume_trigger(params)
        view_id = self._next_id("V")
        stored = self._store_view(params.get("view"), view_id, view_id, None)
        if trigger is not None:
            # A new modal takes the user's screen.
            self._state.modal_stacks[trigger.user] = [view_id]
        return {"ok": True, "view": stored}

    def _views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = self._consume_trigger(params)
        if trigger is not None:
            return {"ok": True, "view": self._push(trigger.user, params.get("view"))}
        view_id = self._next_id("V")
        # No one is known to have issued this trigger; the latest view is the likely root.
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
        home_owner = next((u for u, v in self._state.home_views.items() if v.get("id") == view_id), None)
        if home_owner is not None:
            return self._publish_home(home_owner, params.get("view"))
        current = self._state.views.get(view_id)
        if current is None:
            raise SlackApiFailure("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            raise SlackApiFailure("hash_conflict")
        view = self._store_view(params.get("view"), view_id, current["root_view_id"], current["previous_view_id"])
        return {"ok": True, "view": view}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user_id")
        if not user_id:
            raise SlackApiFailure("invalid_arguments")
        return self._publish_home(str(user_id), params.get("view"))

    def _publish_home(self, user_id: str, view: Any) -> dict[str, Any]:
        problems = view_problems(view, ("home",))
        if problems:
            raise SlackApiFailure("invalid_arguments", problems)
        stored = {**view, "id": self._state.home_views.get(user_id, {}).get("id") or self._next_id("V")}
        self._state.home_views[user_id] = stored
        return {"ok": True, "view": _copy(stored)}

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
        user = self.user(str(user_id))
        return {
            "ok": True,
            "user": {
                "id": user.id,
                "team_id": TEAM_ID,
                "name": user.name,
                "deleted": False,
                "real_name": user.real_name,
                "tz": user.tz,
                "tz_label": user.tz,
                "tz_offset": 3600,
                "is_bot": user.id == BOT_USER_ID,
                "is_admin": False,
                "profile": {
                    "title": user.title,
                    "real_name": user.real_name,
                    "display_name": user.name,
                    "real_name_normalized": user.real_name,
                    "display_name_normalized": user.name,
                    "email": f"{user.name}@emulated.example",
                    "team": TEAM_ID,
                },
            },
        }

    def _conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channels.get(str(params.get("channel") or ""))
        members = self.channel_members(channel.id) if channel else []
        if channel is None or (channel.private and BOT_USER_ID not in members):
            raise SlackApiFailure("channel_not_found")  # a private channel the app is not in is hidden from it
        if BOT_USER_ID not in members:
            raise SlackApiFailure("not_in_channel")
        try:
            limit = int(params.get("limit") or MEMBERS_PAGE_DEFAULT)
            start = int(base64.b64decode(str(params.get("cursor") or ""), validate=True).decode().removeprefix("offset:") or 0)
        except ValueError:
            raise SlackApiFailure("invalid_cursor") from None
        if start < 0:
            raise SlackApiFailure("invalid_cursor")
        if not 0 < limit <= MEMBERS_PAGE_MAX:
            raise SlackApiFailure("invalid_limit")
        listed = members
        more = start + limit < len(listed)
        return {
            "ok": True,
            "members": listed[start : start + limit],
            "response_metadata": {"next_cursor": base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""},
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


def _truthy(value: Any) -> bool:
    # JSON bodies send booleans; form bodies send "true".
    return value is True or str(value).lower() == "true"


# ---------------------------------------------------------------------- HTTP layer


def _make_handler(emulator: SlackEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "SlackEmulator/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def _dispatch(self, http_method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                params = dict(parse_qsl(url.query, keep_blank_values=True))
                params.update(_decode_body(self.headers.get("Content-Type", ""), raw))
            except ValueError as exc:
                self._send(
                    200,
                    {},
                    {"ok": False, "error": "invalid_json" if raw[:1] in b"{[" else "invalid_form_data", "detail": str(exc)},
                )
                return
            for key in _JSON_STRING_FIELDS:
                if isinstance(params.get(key), str) and params[key][:1] in ("[", "{"):
                    with contextlib.suppress(ValueError):  # Slack would reject it; leave it visible to the test as sent
                        params[key] = json.loads(params[key])
            if url.path.startswith("/response/") and http_method == "POST":
                status, body = emulator._handle_response_url(url.path[len("/response/") :], params)
                self._send(status, {}, body)
                return
            if not url.path.startswith("/api/") or len(url.path) <= len("/api/"):
                self._send(404, {}, {"ok": False, "error": "not_found"})
                return
            method = url.path[len("/api/") :]
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
        message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw)
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
