"""The sandbox: the Slack emulator as the app's Slack, and a local page where people play Slack's users.

`Sandbox` starts the emulator (the Web API the bot and worker call) and serves, on 127.0.0.1
only, a page drawing the workspace live (server-sent events) and a small JSON API through which
the page's clicks, commands and modal submissions reach the bot as signed Slack requests
(`sandbox.client`). The page itself is plain HTML, CSS and JS from `sandbox/static`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from sandbox import workspace
from sandbox.client import Outcome, SandboxClient
from sandbox.driver import SlackDriver
from sandbox.emulator import SlackEmulator
from sandbox.loopback import send_bytes, send_json, serve_in_thread, shut_down
from sandbox.socket_driver import SocketModeDriver

__all__ = ["Sandbox"]

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Neither the page nor its state may be served from a cache: both change under the page.
_NO_STORE = {"Cache-Control": "no-store"}
# Keep-alive comments let a stream notice a page that went away.
_KEEPALIVE_SECONDS = 15.0
# How often a stream looks at the status of the processes (messages wake it at once).
_STATUS_POLL_SECONDS = 0.3


@dataclass
class SandboxInfo:
    """What the page says about this sandbox besides the workspace: who to play, what to try, status."""

    people: list[workspace.Person] = field(default_factory=lambda: list(workspace.PEOPLE))
    approvals_channel: str = workspace.APPROVALS_CHANNEL.id
    # (label, command) pairs the page offers to put in the composer.
    examples: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON for the page."""
        return {
            "people": [{**asdict(p.user), "role": p.role, "about": p.about} for p in self.people],
            "approvals_channel": self.approvals_channel,
            "examples": [{"label": label, "command": command} for label, command in self.examples],
            "notes": list(self.notes),
            "status": dict(self.status),
        }


class Sandbox:
    """The emulator plus the page, for a bot at ``bot_url`` that verifies with ``signing_secret``.

    Start it before the bot (the bot needs :attr:`api_url`); both servers listen on 127.0.0.1.
    """

    def __init__(
        self, bot_url: str, signing_secret: str, *, port: int = 0, info: SandboxInfo | None = None, socket_mode: bool = False
    ) -> None:
        """With ``socket_mode``, the page's gestures reach the bot down the Socket Mode connection it opened
        (`sandbox.socket_mode`), not as signed requests to ``bot_url``."""
        self.info = info or SandboxInfo()
        self.socket_mode = socket_mode
        self.emulator = SlackEmulator(LOOPBACK, users=workspace.users(), channels=workspace.channels())
        self.bot_url = bot_url
        self._signing_secret = signing_secret
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._status_lock = threading.Lock()
        self._status_version = 0
        self.client: SandboxClient | None = None

    def start(self) -> Sandbox:
        """Start the emulator and serve the page; ``OSError`` if the page's port is taken."""
        self.emulator.start()
        usernames = {u.id: u.name for u in workspace.users()}
        driver = (
            SocketModeDriver(self.emulator.socket_mode, usernames=usernames, timeout=10)
            if self.socket_mode
            else SlackDriver(self.bot_url, self._signing_secret, usernames=usernames, timeout=10)
        )
        self.client = SandboxClient(self.emulator, driver)
        try:
            server = ThreadingHTTPServer((LOOPBACK, self._port), _make_handler(self))
        except OSError:
            self.emulator.stop()
            raise
        self._server = server
        self._thread = serve_in_thread(server, "sandbox-page", 0.1)
        return self

    def stop(self) -> None:
        """Stop the page (and its live streams) and the emulator."""
        self._stopping.set()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        shut_down(server, thread)
        self.emulator.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The page's address, e.g. ``http://127.0.0.1:3000/``."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://{LOOPBACK}:{self._server.server_address[1]}/"

    @property
    def api_url(self) -> str:
        """The Slack Web API base URL the bot and worker must use (``SLACK_API_URL``)."""
        return self.emulator.base_url

    def set_status(self, part: str, state: str) -> None:
        """Say how a process is doing (``bot``: ``starting`` / ``ready`` / ``stopped``); the page shows it."""
        with self._status_lock:
            if self.info.status.get(part) != state:
                self.info.status[part] = state
                self._status_version += 1

    def state(self) -> dict[str, Any]:
        """Everything the page draws: the workspace as Slack holds it, and the sandbox's own info."""
        with self._status_lock:
            info = self.info.to_dict()
        snapshot = self.emulator.snapshot()
        # Whose DM with the app each D… channel is: the page shows a person's DMs only to them, as Slack does.
        dms = {c["id"]: user for c in snapshot["channels"] if (user := self.emulator.dm_user(c["id"]))}
        return {**snapshot, "dms": dms, "sandbox": info}

    def _stream(self, write: Any) -> None:
        """Write the state as server-sent events whenever it changes, until the page goes away."""
        seen = (-1, -1)
        last_write = 0.0
        while not self._stopping.is_set():
            current = (self.emulator.version, self._status_version)
            if current != seen:
                seen = current
                write(f"event: state\ndata: {json.dumps(self.state())}\n\n")
                last_write = time.monotonic()
            elif time.monotonic() - last_write > _KEEPALIVE_SECONDS:
                write(": keep-alive\n\n")
                last_write = time.monotonic()
            self.emulator.wait_for_change(seen[0], _STATUS_POLL_SECONDS)


class _PageHandler(BaseHTTPRequestHandler):
    """Serves the page, its state and live stream, and the gestures it posts, for one sandbox."""

    server_version = "CountersignSandbox/1.0"
    protocol_version = "HTTP/1.1"
    # Bound by `_make_handler`: the HTTP server makes one handler per request and passes only the request.
    sandbox: Sandbox

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("page: " + format, *args)

    def do_GET(self) -> None:
        if not self._same_host():
            return
        path = urlsplit(self.path).path
        if path == "/":
            self._static("index.html")
        elif path.startswith("/static/"):
            self._static(path[len("/static/") :])
        elif path == "/api/state":
            self._json(200, self.sandbox.state())
        elif path == "/api/events":
            self._events()
        else:
            self._json(404, {"ok": False, "error": "not_found"})

    def do_POST(self) -> None:
        if not self._same_host():
            return
        # Only the page's own scripts send JSON; a form on another site cannot (no CORS here).
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            self._json(415, {"ok": False, "error": "send JSON"})
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            outcome = _gesture(self.sandbox, urlsplit(self.path).path, body)
        except (ValueError, KeyError, TypeError) as error:
            self._json(400, {"ok": False, "error": f"bad request: {error}"})
            return
        if outcome is None:
            self._json(404, {"ok": False, "error": "not_found"})
        else:
            self._json(200, outcome.to_dict())

    def _same_host(self) -> bool:
        # Refuse requests addressed to another name (DNS rebinding): the page is for this machine.
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host in (LOOPBACK, "localhost"):
            return True
        self._json(421, {"ok": False, "error": "the sandbox answers on 127.0.0.1 only"})
        return False

    def _static(self, name: str) -> None:
        files = resources.files("sandbox") / "static"
        suffix = name[name.rfind(".") :] if "." in name else ""
        target = files / name
        if "/" in name or "\\" in name or suffix not in _STATIC_TYPES or not target.is_file():
            self._json(404, {"ok": False, "error": "not_found"})
            return
        send_bytes(self, 200, _STATIC_TYPES[suffix], target.read_bytes(), _NO_STORE)

    def _json(self, status: int, body: dict[str, Any]) -> None:
        send_json(self, status, body, _NO_STORE)

    def _events(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def write(chunk: str) -> None:
            self.wfile.write(chunk.encode("utf-8"))
            self.wfile.flush()

        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the page was closed or reloaded
            self.sandbox._stream(write)


def _make_handler(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    """The page's handler class, bound to ``sandbox``."""
    return type("Handler", (_PageHandler,), {"sandbox": sandbox})


def _gesture(sandbox: Sandbox, path: str, body: dict[str, Any]) -> Outcome | None:
    """Run one gesture from the page (`POST /api/...`); None for an unknown one."""
    client = sandbox.client
    assert client is not None, "started sandboxes have a client"
    user = str(body["user"])
    if path == "/api/send":
        return client.send(user, str(body["channel"]), str(body["text"]), body.get("thread_ts"))
    if path == "/api/act":
        values = body.get("values")
        if values is not None and not isinstance(values, dict):
            raise ValueError("values must be an object")
        if body.get("view_id"):
            return client.act_on_view(
                user, str(body["view_id"]), str(body["action_id"]), body.get("value"), body.get("block_id"), values
            )
        return client.act_on_message(
            user,
            str(body["channel"]),
            str(body["ts"]),
            str(body["action_id"]),
            body.get("value"),
            body.get("block_id"),
            ephemeral=bool(body.get("ephemeral")),
        )
    if path == "/api/submit":
        values = body["values"]
        if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
            raise ValueError("values must map block ids to {action_id: value}")
        return client.submit(user, str(body["view_id"]), values)
    if path == "/api/close":
        return client.close(user, str(body["view_id"]))
    if path == "/api/home":
        return client.open_home(user)
    return None
