"""`countersign bot`: the Bolt app behind gunicorn on PORT at /slack/events, or over Socket Mode."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt import App, BoltContext
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_bolt.request import BoltRequest

from approvals.errors import ConfigurationError
from approvals.prometheus import process_exited
from approvals.settings import Settings
from approvals.store import Store, create_db_engine
from approvals.wiring import checked_engine, load_policy_set, open_queue, redis_url
from bot import metrics
from bot.answering import ANSWERING
from bot.app import LISTENER_THREADS, create_app
from bot.bolt_internals import build_context
from bot.inbound import MAX_BODY_BYTES, Refused, check, parse
from bot.slack_client import create_slack_client
from bot.slack_errors import SlackAuthCheck

log = logging.getLogger(__name__)


def _bolt_request(raw_body: str, body: dict[str, Any], query: Any, headers: Any) -> BoltRequest:
    """A BoltRequest carrying the body `bot.inbound.parse` read (`body`), not parsed again.

    A click's form body carries its whole message, URL-encoded, and parsing it is one of the dearer
    steps of reading a click, so it is done once. Bolt's own parse would also treat any form body
    containing the substring "payload" as an interactive payload and drop a slash command whose text
    says it.
    """
    request = BoltRequest(body="", query=query, headers=headers)
    # The raw body stays what Slack signed: Bolt's request verification reads it.
    request.raw_body = raw_body
    request.body = body
    request.context = build_context(BoltContext({}), body)
    return request


class CountersignRequestHandler(SlackRequestHandler):
    """Bolt's WSGI adapter, behind the checks of `bot.inbound` (size, timestamp, signature, then a strict
    parse), with the form-body fix above, a health check at /healthz and Prometheus metrics at /metrics."""

    def __init__(self, app: App, signing_secret: str | None) -> None:
        super().__init__(app)
        self.signing_secret = signing_secret
        self.slack_auth = SlackAuthCheck(app.client)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/healthz":
            refused = self.slack_auth.refused()
            if refused is not None:  # up, yet nothing reaches Slack: say so to whoever watches the health check
                return _answer(start_response, 503, f"slack refuses the app's token: {refused}")
            return _answer(start_response, 200, "ok")
        if path == "/metrics":
            scraped, content_type = metrics.scrape()
            start_response("200 OK", [("Content-Type", content_type)])
            return [scraped]
        if path != self.path or method != "POST":
            return _answer(start_response, 404, "Not Found")
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            return _answer(start_response, 400, "Bad Request")
        if length > MAX_BODY_BYTES:
            return _answer(start_response, 413, "Payload Too Large")
        # Without a length (chunked), read one byte past the limit to know it was exceeded.
        body = environ["wsgi.input"].read(length if length >= 0 else MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return _answer(start_response, 413, "Payload Too Large")
        request = WsgiHttpRequest(environ)
        headers = {k: v if isinstance(v, str) else ",".join(v) for k, v in request.get_headers().items()}
        outcome = check(headers, body, self.signing_secret) or parse(headers.get("content-type", ""), body)
        if isinstance(outcome, Refused):
            log.info("refused a request to %s: %s (%d)", path, outcome.reason, outcome.status)
            if outcome.status == 401:
                metrics.SIGNATURE_FAILURES.inc()
            return _answer(start_response, outcome.status, _REASONS[outcome.status])
        started = time.perf_counter()
        bolt_request = _bolt_request(body.decode("utf-8"), outcome, request.query_string, headers)
        with ANSWERING.request():
            response = self.app.dispatch(bolt_request)
        # Bolt answers once the listener acked: this is the ack's latency.
        metrics.answered(metrics.kind_of(bolt_request.body), time.perf_counter() - started, response.status)
        wsgi = WsgiHttpResponse(status=response.status, headers=response.headers, body=response.body)
        start_response(wsgi.status, wsgi.get_headers())
        return wsgi.get_body()


_REASONS = {400: "Bad Request", 401: "Unauthorized", 413: "Payload Too Large", 503: "Service Unavailable"}


def _answer(start_response: Any, status: int, text: str) -> list[bytes]:
    phrase = {200: "OK", 404: "Not Found", **_REASONS}[status]
    start_response(f"{status} {phrase}", [("Content-Type", "text/plain; charset=utf-8")])
    return [text.encode()]


def bot_store(settings: Settings) -> Store:
    """The bot's store, keeping a connection open for each listener thread: under a burst of clicks they all
    record at once, and with SQLAlchemy's default of 5 the rest would be opened and closed for every burst
    (on PostgreSQL, a server process started and ended each time)."""
    return Store(create_db_engine(settings.sqlalchemy_url, pool_size=LISTENER_THREADS))


BOT_NEEDS_REDIS = "the bot enqueues decisions on it"


def build_app(settings: Settings) -> App:
    """The Bolt app with its store, queue and Slack client, from settings."""
    queue = open_queue(settings, BOT_NEEDS_REDIS)
    policies = load_policy_set(settings)
    return create_app(settings, bot_store(settings), queue, create_slack_client(settings), policies)


# What the process serves, given the Slack handler: the wiring may mount more beside it (countersign/web.py).
Serving = Callable[[Settings, CountersignRequestHandler], Any]


def _slack_only(_settings: Settings, handler: CountersignRequestHandler) -> Any:
    return handler


class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type information
    """gunicorn, configured in code (threads, so Bolt's ack-first listeners run beside requests)."""

    def __init__(self, settings: Settings, serving: Serving) -> None:
        self.settings = settings
        self.serving = serving
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", f"{self.settings.host}:{self.settings.port}")
        self.cfg.set("workers", self.settings.web_concurrency)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", 8)
        self.cfg.set("timeout", 30)
        self.cfg.set("accesslog", "-")
        self.cfg.set("child_exit", lambda _server, worker: process_exited(worker.pid))

    def load(self) -> Any:
        # Each gunicorn worker builds its own app after the fork: no shared sockets or DB connections.
        secret = self.settings.slack_signing_secret
        handler = CountersignRequestHandler(build_app(self.settings), secret.get_secret_value() if secret else None)
        return self.serving(self.settings, handler)


def run_bot(settings: Settings, serving: Serving = _slack_only) -> None:
    """Serve Slack: Socket Mode when SLACK_APP_TOKEN is set, else HTTP behind gunicorn, serving what `serving`
    makes of the Slack handler (by default, the handler alone)."""
    socket_mode = settings.slack_app_token is not None
    if not socket_mode and settings.slack_signing_secret is None:
        raise ConfigurationError("SLACK_SIGNING_SECRET", "not set (needed to verify Slack's requests over HTTP)")
    # Checked once, before any process serves: the bot never creates or changes tables.
    checked_engine(settings).dispose()
    # Named here, in the command's process, rather than by each gunicorn process building its app.
    redis_url(settings, BOT_NEEDS_REDIS)
    load_policy_set(settings)
    if socket_mode:
        from bot.socket_mode import CountersignSocketModeHandler, serve_health

        assert settings.slack_app_token is not None
        log.info("bot: Socket Mode")
        handler = CountersignSocketModeHandler(build_app(settings), settings.slack_app_token.get_secret_value())
        serve_health(handler, settings.host, settings.port)  # no HTTP for Slack: PORT serves /healthz and /metrics
        handler.start()  # type: ignore[no-untyped-call]  # slack_bolt leaves start() unannotated
        return
    log.info("bot: HTTP on %s:%s at /slack/events", settings.host, settings.port)
    _Gunicorn(settings, serving).run()
