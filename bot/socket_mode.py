"""The bot over Socket Mode: Bolt's `SocketModeHandler` (slack_sdk's own websocket client), answering
each envelope as the HTTP handler answers a request (counted while answered, its ack timed), and PORT serving
/healthz and /metrics."""

from __future__ import annotations

import logging
import threading
import time
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot import metrics
from bot.answering import ANSWERING
from bot.slack_errors import SlackAuthCheck

log = logging.getLogger(__name__)

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


class SocketModeHealth:
    """What PORT serves in Socket Mode (Slack reaches the bot down its websocket, not over HTTP): /healthz, 503 while
    the socket is not connected or Slack refuses the app's token, and /metrics."""

    def __init__(self, handler: SocketModeHandler) -> None:
        self.handler = handler
        self.slack_auth = SlackAuthCheck(handler.app.client)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO")
        if path == "/metrics":
            scraped, content_type = metrics.scrape()
            start_response("200 OK", [("Content-Type", content_type)])
            return [scraped]
        if path != "/healthz":
            return _answer(start_response, "404 Not Found", "Not Found")
        refused = self.slack_auth.refused()
        if refused is not None:
            return _answer(start_response, "503 Service Unavailable", f"slack refuses the app's token: {refused}")
        if not self.handler.client.is_connected():
            # Reconnecting takes about PING_INTERVAL_SECONDS; a health check that fails for longer means it cannot.
            return _answer(start_response, "503 Service Unavailable", "not connected to Slack's Socket Mode")
        return _answer(start_response, "200 OK", "ok")


def serve_health(handler: SocketModeHandler, host: str, port: int) -> bool:
    """Serve `SocketModeHealth` on `host`:`port` from a daemon thread; False, said once, when the port is taken."""
    try:
        server = make_server(host, port, SocketModeHealth(handler), server_class=_ThreadingWSGIServer, handler_class=_Quiet)
    except OSError as error:
        log.warning("bot: cannot serve /healthz and /metrics on port %s (%s)", port, error.strerror)
        return False
    threading.Thread(target=server.serve_forever, name="socket-mode-health", daemon=True).start()
    log.info("bot: /healthz and /metrics on port %s", port)
    return True


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def _answer(start_response: Any, status: str, text: str) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [text.encode()]
