"""`countersign bot`: the Bolt app behind gunicorn on PORT at /slack/events, or over Socket Mode."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from gunicorn.app.base import BaseApplication
from redis import Redis
from slack_bolt import App, BoltContext
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context
from slack_bolt.response import BoltResponse

from approvals.approval_store import ApprovalStore, create_db_engine
from approvals.policies import PolicyError, load_policies
from approvals.settings import Settings
from bot.app import create_app
from bot.slack_client import create_slack_client
from countersign.job_queue import JobQueue

log = logging.getLogger(__name__)


def _bolt_request(raw_body: str, query: Any, headers: Any) -> BoltRequest:
    """A BoltRequest whose form body is parsed right even when a slash command's text says "payload".

    Bolt treats any form body containing the substring "payload" as an interactive payload and
    drops the command; only a real `payload=` field should be read that way.
    """
    request = BoltRequest(body=raw_body, query=query, headers=headers)
    if not request.body and raw_body and not raw_body.lstrip().startswith("{"):
        fields = dict(parse_qsl(raw_body, keep_blank_values=True))
        if fields and "payload" not in fields:
            request.body = fields
            request.context = build_context(BoltContext({}), fields)
    return request


class CountersignRequestHandler(SlackRequestHandler):
    """Bolt's WSGI adapter with the form-body fix above and a health check at /healthz."""

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        return self.app.dispatch(_bolt_request(request.get_body(), request.query_string, request.get_headers()))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        return super().__call__(environ, start_response)


def build_app(settings: Settings) -> App:
    """The Bolt app with its store, queue and Slack client, from settings."""
    if settings.redis_url is None:
        raise SystemExit("countersign: REDIS_URL: not set (the bot enqueues decisions on it)")
    store = ApprovalStore(create_db_engine(settings.sqlalchemy_url))
    store.create_schema()
    queue = JobQueue(Redis.from_url(settings.redis_url), settings.countersign_queue, settings.run_timeout)
    try:
        policies = load_policies(settings.countersign_policies)
    except PolicyError as error:
        raise SystemExit(f"countersign: COUNTERSIGN_POLICIES: {error}") from None
    return create_app(settings, store, queue, create_slack_client(settings), policies)


class _Gunicorn(BaseApplication):
    """gunicorn, configured in code (threads, so Bolt's ack-first listeners run beside requests)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        self.cfg.set("bind", f"0.0.0.0:{self.settings.port}")
        self.cfg.set("workers", self.settings.web_concurrency)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", 8)
        self.cfg.set("timeout", 30)
        self.cfg.set("accesslog", "-")

    def load(self) -> Any:
        # Each gunicorn worker builds its own app after the fork: no shared sockets or DB connections.
        return CountersignRequestHandler(build_app(self.settings))


def run_bot(settings: Settings) -> None:
    """Serve Slack: Socket Mode when SLACK_APP_TOKEN is set, else HTTP behind gunicorn."""
    if settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        log.info("bot: Socket Mode")
        SocketModeHandler(build_app(settings), settings.slack_app_token.get_secret_value()).start()
        return
    if settings.slack_signing_secret is None:
        raise SystemExit("countersign: SLACK_SIGNING_SECRET: not set (needed to verify Slack's requests over HTTP)")
    log.info("bot: HTTP on port %s at /slack/events", settings.port)
    _Gunicorn(settings).run()
