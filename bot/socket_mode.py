"""The bot over Socket Mode: Bolt's `SocketModeHandler` (slack_sdk's own websocket client), answering
each envelope as the HTTP handler answers a request (counted while answered, its ack timed)."""

from __future__ import annotations

import time

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot import metrics
from bot.answering import ANSWERING

# slack_sdk's client checks its connection, and reconnects one that closed, every ping interval (10 s by
# default): a connection Slack closed would leave clicks waiting that long for the next one.
PING_INTERVAL_SECONDS = 2.0


class CountersignSocketModeHandler(SocketModeHandler):
    """Bolt's Socket Mode handler, with the HTTP handler's bookkeeping around each envelope."""

    def __init__(self, app: App, app_token: str) -> None:
        super().__init__(app, app_token, ping_interval=PING_INTERVAL_SECONDS)

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        """Dispatch one envelope to the app and send its ack (Bolt's own steps), timed as an HTTP answer is."""
        started = time.perf_counter()
        with ANSWERING.request():
            response = run_bolt_app(self.app, req)
            send_response(client, req, response, started)
        metrics.answered(metrics.kind_of(req.payload), time.perf_counter() - started, response.status)
