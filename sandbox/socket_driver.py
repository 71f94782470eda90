"""Acts as Slack towards a Bolt app connected over Socket Mode: the payloads `SlackDriver` builds
(clicks, modal submissions, slash commands, events), delivered as envelopes down the app's websocket.

A `Response` carries what the app acked: status 200 and the ack's payload as the body (what an HTTP
answer's body would be: a view's `response_action`, a slash command's reply), or status 0 when the app
never acked (Slack would show the person an error).

Example::

    driver = SocketModeDriver(emulator.socket_mode, response_url=emulator.response_url())
    resp = driver.block_action("U1", "approve", "req-1", channel_id="C1", container_message_ts=ts)
    assert resp.status == 200
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sandbox.driver import SlackDriver
from sandbox.signed_requests import Response
from sandbox.socket_mode import SocketModeServer

__all__ = ["DELIVERIES_HEADER", "SocketModeDriver", "envelope_type"]

# Not acked: Slack shows the person an error, as it does for an HTTP request unanswered in 3 s.
NOT_ACKED = 0
# The response header (the emulator's own) telling how many times the envelope was delivered.
DELIVERIES_HEADER = "x-emulator-deliveries"


def envelope_type(payload: Mapping[str, Any]) -> tuple[str, bool]:
    """The envelope Slack wraps ``payload`` in, and whether it accepts a response payload (a modal
    submission's `response_action`, a slash command's or a suggestion's answer)."""
    if payload.get("type") == "event_callback":
        return "events_api", False
    if "command" in payload:
        return "slash_commands", True
    return "interactive", payload.get("type") in ("view_submission", "block_suggestion")


class SocketModeDriver(SlackDriver):
    """`SlackDriver`'s payloads over Socket Mode (nothing is signed: the app opened the connection)."""

    def __init__(
        self,
        socket_mode: SocketModeServer,
        *,
        response_url: str | None = None,
        timeout: float = 30.0,
        usernames: Mapping[str, str] | None = None,
        acting_as: Callable[[str], object] | None = None,
    ) -> None:
        """``socket_mode`` is the emulator's (``SlackEmulator.socket_mode``); the rest as `SlackDriver`'s."""
        super().__init__(
            "socket-mode:", "unused", response_url=response_url, timeout=timeout, usernames=usernames, acting_as=acting_as
        )
        self.socket_mode = socket_mode

    def post(
        self,
        body: str | bytes,
        content_type: str,
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        payload: dict[str, Any] | None = None,
        before_send: Callable[[], object] | None = None,
    ) -> Response:
        """Deliver ``payload`` (the decoded body) in its envelope and wait for the app's ack."""
        if payload is None:
            raise ValueError("Socket Mode delivers payloads, not raw bodies")
        kind, accepts = envelope_type(payload)
        self.last_payload = payload
        if before_send is not None:
            before_send()
        ack = self.socket_mode.deliver(kind, payload, accepts_response_payload=accepts, timeout=self.timeout)
        body_text = json.dumps(ack.payload) if ack.payload else ""
        # How many times the envelope was delivered (more than once: redelivered, with `retry_attempt`).
        headers = {DELIVERIES_HEADER: str(ack.deliveries)}
        return Response(
            status=200 if ack.acked else NOT_ACKED, body=body_text, elapsed=ack.elapsed, headers=headers, payload=payload
        )
