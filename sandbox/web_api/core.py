"""The emulator's state and the bookkeeping every surface shares: the lock, the version the page
watches, ids and timestamps, and the address it serves on."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any, Protocol, TypeVar

from sandbox.web_api.records import BOT_USER_ID, Call, Channel, User


@dataclass
class RateLimit:
    """How many more calls to answer as rate limited, and for which token (None: any)."""

    times: int
    retry_after: int
    token: str | None
    # Only calls naming this channel (None: any): a test's fault is not taken by another test's post.
    channel: str | None = None


# The HTTP status a `drop`ped call is answered with: none, the connection is closed instead.
DROPPED = -1


@dataclass(frozen=True)
class Failure:
    """One call to answer with Slack's `error` (as JSON, with `status`), or with a closed connection (`DROPPED`):
    the next made with `token` naming `channel` (None: any)."""

    error: str
    token: str | None
    status: int = 200
    channel: str | None = None

    def matches(self, token: str | None, params: dict[str, Any]) -> bool:
        """Whether this failure answers a call made with `token` and `params`."""
        return self.token in (None, token) and self.channel in (None, params.get("channel"))


@dataclass
class Trigger:
    """Who a trigger_id was issued to (and from which modal), so views open on their screen."""

    user: str
    view_id: str | None
    issued_at: float


@dataclass
class ResponseTarget:
    """Where a response_url's posts land: the channel and person of the interaction."""

    channel: str
    user: str
    message_ts: str | None = None
    thread_ts: str | None = None
    issued_at: float = field(default_factory=time.monotonic)


@dataclass
class State:
    """What Slack would show, and the one-time tokens it issued; `reset` starts a new one."""

    # channel -> ts -> message; dicts keep insertion order, and ts grow monotonically.
    messages: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    used_trigger_ids: set[str] = field(default_factory=set)
    # trigger ids issued by the Slack client side (the sandbox page), by id
    triggers: dict[str, Trigger] = field(default_factory=dict)
    # response_url name -> where its posts go (names issued by response_url_for)
    response_targets: dict[str, ResponseTarget] = field(default_factory=dict)
    # user id -> ids of the modal views open on their screen, bottom first
    modal_stacks: dict[str, list[str]] = field(default_factory=dict)
    # user id -> the App Home view published for them
    home_views: dict[str, dict[str, Any]] = field(default_factory=dict)
    # user-group id -> {"id", "handle", "name", "users"}
    usergroups: dict[str, dict[str, Any]] = field(default_factory=dict)
    # user id -> the id of the app's DM with them (D…), once opened
    dms: dict[str, str] = field(default_factory=dict)
    # users whose accounts are deactivated: no DM opens with them
    deactivated: set[str] = field(default_factory=set)
    # channels archived (posts refused with `is_archived`) and channels deleted (`channel_not_found`)
    archived: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)


class _Issued(Protocol):
    issued_at: float


_IssuedT = TypeVar("_IssuedT", bound=_Issued)


def forget_stale(issued: dict[str, _IssuedT], ttl: float, now: float) -> None:
    """Drop the entries (triggers, response_url targets) issued more than ``ttl`` seconds before ``now``."""
    for stale in [key for key, entry in issued.items() if now - entry.issued_at > ttl]:
        del issued[stale]


class EmulatorCore:
    """The state each surface's methods read and change, always with ``_lock`` held."""

    def __init__(self, host: str = "127.0.0.1", *, users: Iterable[User] = (), channels: Iterable[Channel] = ()) -> None:
        self._host = host
        self._scheme = "http"  # https once started with a TLS context
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._version = 0
        self._calls: list[Call] = []
        self._state = State()
        self._users = {user.id: user for user in users}
        self._channels = {channel.id: channel for channel in channels}
        # channel id -> its members, in the order they joined (the app first), and those who left it
        self._members: dict[str, dict[str, None]] = {
            channel.id: dict.fromkeys([BOT_USER_ID, *channel.members]) for channel in channels
        }
        self._left: dict[str, set[str]] = {channel.id: set() for channel in channels}
        # Members of the workspace: the listed users, and whoever the tests or the page act as (`add_member`).
        self._workspace: dict[str, None] = dict.fromkeys(self._users)
        self._rate_limits: dict[str, RateLimit] = {}
        self._failures: dict[str, list[Failure]] = {}
        # Seconds each Web API call waits before it is answered, as Slack's own take (0 on loopback).
        self.latency = 0.0
        # Slack's posting limit, when set: about this many chat.postMessage calls a second in each channel, after a
        # burst of `posting_burst`; past it a post is answered 429 with Retry-After (None: no limit).
        self.posts_a_second: float | None = None
        self.posting_burst = 3
        self._posting: dict[str, tuple[float, float]] = {}  # channel -> (posts it may make now, when counted)
        self._last_ts = 0
        self._id_counter = itertools.count(1)
        # Web API method -> its handler; each surface's methods are listed by the assembled emulator.
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}

    @property
    def port(self) -> int:
        """The bound TCP port (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("SlackEmulator is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """Value for ``WebClient(base_url=...)``, e.g. ``http://127.0.0.1:PORT/api/``."""
        return f"{self._scheme}://{self._host}:{self.port}/api/"

    def response_url(self, name: str = "default") -> str:
        """A loopback ``response_url`` for driver payloads.

        POSTs to it are recorded as calls to method ``"response_url"`` with
        the JSON body as params plus ``"_name": name``.
        """
        return f"{self._scheme}://{self._host}:{self.port}/response/{name}"

    def _bump(self) -> None:
        # Called with the lock held, after any change the page would draw.
        self._version += 1
        self._changed.notify_all()

    def _next_ts(self) -> str:
        # Slack's ts is the epoch in microseconds; kept strictly increasing so every ts is unique.
        micros = max(int(time.time() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}0EMU{next(self._id_counter):06d}"
