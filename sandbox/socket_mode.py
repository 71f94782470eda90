"""Slack's Socket Mode, emulated: the websocket an app opens with `apps.connections.open` and the envelopes
Slack sends down it.

An app asks `apps.connections.open` (with its app-level `xapp-` token) for a URL, connects to it and
receives `hello`; then every request Slack would have POSTed arrives as an envelope
(`events_api`, `interactive`, `slash_commands`) with an `envelope_id`, which the app acks by sending back
`{"envelope_id": ..., "payload": {...}}`, the payload being what an HTTP answer's body would be.
An envelope not acked in time, or whose connection drops before its ack arrives, is delivered again
(on whichever connection is open then) with `retry_attempt` and `retry_reason` set, up to
`MAX_RETRIES` times. Tests control the socket: `refresh()` sends Slack's `disconnect`
(`reason: refresh_requested`) and `drop()` cuts every connection.

Example::

    ack = slack.socket_mode.deliver("interactive", payload, accepts_response_payload=False)
    assert ack.acked
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

log = logging.getLogger(__name__)

# Slack retries an unacknowledged envelope this many times before giving up on it.
MAX_RETRIES = 3
# How long Slack waits for an ack before it counts the envelope as timed out and delivers it again.
ACK_TIMEOUT_SECONDS = 3.0
# Slack's `retry_reason` for an envelope delivered again because no ack came in time.
RETRY_REASON = "timeout"


@dataclass
class Ack:
    """What became of one delivered envelope: whether (and with what payload) the app acked it."""

    envelope_id: str
    acked: bool
    payload: dict[str, Any] | None
    # Every delivery: 1 when the first was acked, more when it was delivered again.
    deliveries: int
    elapsed: float


@dataclass
class _Envelope:
    envelope_id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    deliveries: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    ack: dict[str, Any] | None = None
    # The connection it was last sent on, and when.
    sent_on: ServerConnection | None = None
    sent_at: float = 0.0

    def message(self) -> str:
        envelope: dict[str, Any] = {
            "envelope_id": self.envelope_id,
            "payload": self.payload,
            "type": self.type,
            "accepts_response_payload": self.accepts_response_payload,
        }
        if self.type == "events_api":
            # Slack sends these two on every Events API envelope, 0 and "" the first time.
            envelope["retry_attempt"] = self.deliveries - 1
            envelope["retry_reason"] = RETRY_REASON if self.deliveries > 1 else ""
        elif self.deliveries > 1:
            envelope["retry_attempt"] = self.deliveries - 1
            envelope["retry_reason"] = RETRY_REASON
        return json.dumps(envelope)


class SocketModeServer:
    """The websocket end of Socket Mode, served on ``host`` from a daemon thread (see the module docstring)."""

    def __init__(self, host: str, app_id: str, *, ack_timeout: float = ACK_TIMEOUT_SECONDS) -> None:
        self._host = host
        self._app_id = app_id
        self.ack_timeout = ack_timeout
        self._lock = threading.Condition()
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._unacked: dict[str, _Envelope] = {}
        self._server: Server | None = None
        self._threads: list[threading.Thread] = []
        # How many connections have said hello since the start: a test waits for a reconnection with it.
        self.connections_opened = 0
        # How many more acks to lose on the way (`lose_acks`).
        self._acks_to_lose = 0

    def start(self) -> SocketModeServer:
        """Listen on a free port, and deliver again whatever goes unacked. Returns ``self``."""
        if self._server is None:
            self._server = serve(self._session, self._host, 0, compression=None)
            for target, name in ((self._server.serve_forever, "socket-mode"), (self._redeliver_loop, "socket-mode-retries")):
                thread = threading.Thread(target=target, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Close every connection and stop listening."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()  # stops listening; the open connections are the server's to end
            self.drop(abruptly=True)
        with self._lock:
            self._lock.notify_all()

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        assert self._server is not None, "Socket Mode is not started"
        return int(self._server.socket.getsockname()[1])

    # ------------------------------------------------------------------ apps.connections.open

    def open_url(self) -> str:
        """A new ``ws://`` URL to connect to, good for one connection (`apps.connections.open`'s answer)."""
        self.start()
        ticket = secrets.token_hex(16)
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://{self._host}:{self.port}/link/?ticket={ticket}&app_id={self._app_id}"

    # ------------------------------------------------------------------ the connection

    def _session(self, connection: ServerConnection) -> None:
        ticket = _ticket_of(connection.request.path if connection.request else "")
        with self._lock:
            known = ticket in self._tickets
            self._tickets.discard(ticket)
        if not known:
            # Slack closes a connection whose ticket it did not issue (or that was used already).
            connection.close(code=1008, reason="invalid ticket")
            return
        hello = {
            "type": "hello",
            "num_connections": len(self._connections) + 1,
            "debug_info": {"host": "applink-emulated", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self._app_id},
        }
        connection.send(json.dumps(hello))
        with self._lock:
            self._connections.append(connection)
            self.connections_opened += 1
            self._lock.notify_all()
        try:
            for message in connection:
                self._received(message)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._connections.remove(connection)
                self._lock.notify_all()

    def _received(self, message: str | bytes) -> None:
        try:
            answer = json.loads(message)
        except ValueError:
            log.warning("socket mode: not JSON: %r", message[:200])
            return
        envelope_id = answer.get("envelope_id") if isinstance(answer, dict) else None
        with self._lock:
            if self._acks_to_lose and envelope_id in self._unacked:
                self._acks_to_lose -= 1
                return
            envelope = self._unacked.pop(envelope_id, None) if isinstance(envelope_id, str) else None
        if envelope is None:
            return  # an ack for an envelope acked already, or never sent: Slack ignores it
        payload = answer.get("payload")
        envelope.ack = payload if isinstance(payload, dict) else {}
        envelope.done.set()

    # ------------------------------------------------------------------ delivering

    def deliver(self, type: str, payload: dict[str, Any], *, accepts_response_payload: bool, timeout: float = 30.0) -> Ack:
        """Send ``payload`` in a ``type`` envelope and wait (up to ``timeout`` s, redeliveries included)
        for the app's ack."""
        envelope = _Envelope(f"{uuid.uuid4()}", type, payload, accepts_response_payload)
        started = time.monotonic()
        with self._lock:
            self._unacked[envelope.envelope_id] = envelope
        self._send(envelope)
        acked = envelope.done.wait(timeout)
        with self._lock:
            self._unacked.pop(envelope.envelope_id, None)
        return Ack(envelope.envelope_id, acked, envelope.ack, envelope.deliveries, time.monotonic() - started)

    def _send(self, envelope: _Envelope) -> None:
        """Send the envelope on an open connection (the newest), or leave it for the retry loop to send."""
        with self._lock:
            if envelope.done.is_set() or not self._connections:
                return
            connection = self._connections[-1]
            envelope.deliveries += 1
            envelope.sent_on, envelope.sent_at = connection, time.monotonic()
            message = envelope.message()
        with contextlib.suppress(ConnectionClosed):  # the retry loop sends it again once a connection is open
            connection.send(message)

    def _redeliver_loop(self) -> None:
        """Deliver again each envelope left unacked: timed out, sent on a connection that closed, or never
        sent for want of a connection."""
        while self._server is not None:
            now = time.monotonic()
            with self._lock:
                owed = [
                    e
                    for e in self._unacked.values()
                    if not e.done.is_set()
                    and (e.sent_on is None or e.sent_on not in self._connections or now - e.sent_at > self.ack_timeout)
                ]
                connected = bool(self._connections)
            for envelope in owed if connected else []:
                if envelope.deliveries > MAX_RETRIES:
                    continue  # Slack gives up on it: `deliver` reports it unacked when its timeout passes
                self._send(envelope)
            with self._lock:
                self._lock.wait(0.05)

    # ------------------------------------------------------------------ test controls

    def wait_for_connection(self, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until ``count`` connections have said hello since the start (and one is open)."""
        with self._lock:
            if not self._lock.wait_for(lambda: self.connections_opened >= count and self._connections, timeout):
                raise TimeoutError(f"no Socket Mode connection #{count} within {timeout}s")

    def lose_acks(self, count: int = 1) -> None:
        """Lose the next ``count`` acks on their way to Slack: their envelopes time out and are delivered
        again, though the app did the work (an ack sent on a connection that broke before it arrived)."""
        with self._lock:
            self._acks_to_lose = count

    def refresh(self) -> None:
        """Ask every connected app to reconnect, as Slack does before it recycles a connection."""
        with self._lock:
            connections = list(self._connections)
        disconnect = {"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "applink-emulated"}}
        for connection in connections:
            with contextlib.suppress(ConnectionClosed):
                connection.send(json.dumps(disconnect))

    def drop(self, *, abruptly: bool = False) -> None:
        """Close every open connection at once: with a close frame, as Slack's servers do when they go
        away, or ``abruptly`` (no close frame: a network failure, which the app notices only by its pings)."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            if abruptly:
                with contextlib.suppress(OSError):
                    connection.socket.shutdown(socket.SHUT_RDWR)
            else:
                threading.Thread(target=connection.close, args=(1001, "going away"), daemon=True).start()


def _ticket_of(path: str) -> str:
    _, _, query = path.partition("?")
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "ticket":
            return value
    return ""
