"""Countersign in the test process: the fast tier.

The worker's runtime and deadline service and the bot's Bolt app, built as the processes build them,
on a database and a queue of their own (the session's worker never sees them), against the session's
Slack emulator. Requests go through the bot's own WSGI handler (signature check and strict parse
included) without a socket; work a worker would do is done here, synchronously, when the test says
(`work()`), and time moves only when the test moves it (`clock`), so a deadline test waits for nothing.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr
from redis import Redis
from redis.exceptions import RedisError
from slack_sdk import WebClient

from approvals.job_queue import JobQueue
from approvals.models import ApprovalRequest, utcnow
from approvals.policies import AgentAccess, PolicySet, Rule
from approvals.runs import RunRequest, start_run
from approvals.settings import Settings
from approvals.store import Store, create_db_engine
from bot.app import create_app
from bot.server import CountersignRequestHandler
from bot.slack_client import create_slack_client
from countersign.migrate import migrate
from countersign.web import API_PREFIX, Routed, WsgiApp, api_app
from countersign.wiring import build_services
from sandbox.driver import Response, SlackDriver
from sandbox.emulator import SlackEmulator
from tests.agents import effects_dir
from tests.stack import SlackUser

log = logging.getLogger(__name__)


class Clock:
    """What time the app and the deadline service think it is: now, unless a test moved it."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def move_to(self, moment: datetime) -> None:
        """From now on it is `moment` (and time runs on from there)."""
        self.offset = moment - utcnow()

    def reset(self) -> None:
        self.offset = timedelta(0)


class WsgiDriver(SlackDriver):
    """Slack's signed requests, handed to the bot's WSGI handler in this process instead of over a socket."""

    def __init__(self, handler: WsgiApp, secret: str, response_url: str, acting_as: Callable[[str], object]) -> None:
        super().__init__("http://in-process/slack/events", secret, response_url=response_url, acting_as=acting_as)
        self.handler = handler

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
        data = body.encode() if isinstance(body, str) else body
        ts = str(int(time.time()) if timestamp is None else timestamp)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/slack/events",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(data)),
            "HTTP_X_SLACK_REQUEST_TIMESTAMP": ts,
            "HTTP_X_SLACK_SIGNATURE": signature if signature is not None else self.sign(data, ts),
            "wsgi.input": io.BytesIO(data),
        }
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        status: list[str] = []
        self.last_payload = payload
        if before_send is not None:
            before_send()
        started = time.monotonic()
        chunks = self.handler(environ, lambda line, _headers: status.append(line))
        raw = b"".join(chunks)
        return Response(
            status=int(status[0].split()[0]),
            body=raw.decode("utf-8", errors="replace"),
            elapsed=time.monotonic() - started,
            payload=payload,
        )


LOCAL_BOT_TOKEN = "xoxb-local-token"


class Local(SlackUser):
    """The worker's services and the bot's app in this process (see the module docstring)."""

    bot_token = LOCAL_BOT_TOKEN

    def __init__(self, settings: Settings, slack: SlackEmulator, secret: str) -> None:
        self.settings = settings
        self.slack = slack
        self.clock = Clock()
        services = build_services(settings, clock=self.clock)
        self.runtime = services.runtime
        self.deadlines = services.deadlines
        self.store: Store = self.runtime.store
        self.queue: JobQueue = self.runtime.queue
        # One rule list the runtime and the app's admin commands both read, which a test replaces in place.
        self.rules = PolicySet()
        self.runtime.policies = self.rules
        self.app = create_app(
            settings, self.store, self.queue, create_slack_client(settings), policies=self.rules, clock=self.clock
        )
        # The bot's web process as served: Slack's handler, the approval API at /v1/ (countersign/web.py).
        api = api_app(settings, self.store, self.runtime.front_end, self.rules, self.runtime.admin_settings)
        self.web = Routed(CountersignRequestHandler(self.app, secret), {API_PREFIX: api})
        # Whoever a test acts as is a member of the workspace (and so of its #general-like channels, conftest).
        self.driver = WsgiDriver(self.web, secret, slack.response_url(), slack.add_member)
        self.effects = effects_dir()
        self._stop = threading.Event()
        # Held while the background worker works, and by a test that must say when the worker acts (`paused`).
        self._working = threading.Lock()
        self._worker = threading.Thread(target=self._work_continuously, name="local-worker", daemon=True)
        self._worker.start()

    def _work_continuously(self) -> None:
        # What the worker and its dispatcher would do: woken by a job the app enqueues (taken off the queue
        # here; `work` reads what is owed from SQL), with a pass over SQL at least every 0.2 s for what is
        # owed without a job, as the dispatcher's. Polling SQL every few milliseconds instead cost 7 % of a
        # core for the whole session.
        queue = self.queue.connection
        while not self._stop.is_set():
            try:
                queue.blpop([self.queue.queue.key], timeout=0.2)
            except RedisError:
                self._stop.wait(0.2)
            try:
                with self._working:
                    self.work()
            except Exception:
                log.exception("in-process work failed")

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Keep the background worker from working inside the block; the test calls `work` itself there."""
        with self._working:
            yield

    def stop(self) -> None:
        """Stop the background worker."""
        self._stop.set()
        self._worker.join(timeout=10)

    def policies(self, *rules: Rule, agents: dict[str, AgentAccess] | None = None) -> None:
        """The policy rules new requests follow (named, so a test says which it uses), and who may start
        which agent (anyone, without `agents`)."""
        self.rules.rules[:] = rules
        self.rules.agents.clear()
        self.rules.agents.update(agents or {})

    def work(self, rounds: int = 10) -> None:
        """Do what a worker would now: every owed run and resume, until nothing is owed."""
        for _ in range(rounds):
            now = utcnow()
            runs, resumes = self.store.due.runs_owed(now), self.store.due.resumes_owed(now)
            if not runs and not resumes:
                return
            for thread_id in runs:
                self.runtime.advance(thread_id)
            for approval_id in resumes:
                self.runtime.resume(approval_id)

    def api(
        self,
        method: str,
        path: str,
        body: object = None,
        key: str | None = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """A request to the approval API through the web process's WSGI app: its status and JSON body."""
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        path, _, query = path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(data)),
            "wsgi.input": io.BytesIO(data),
        }
        if key is not None:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        for name, value in (headers or {}).items():
            variable = name.upper().replace("-", "_")
            # WSGI names these two without the HTTP_ prefix.
            environ[variable if variable in ("CONTENT_LENGTH", "CONTENT_TYPE") else "HTTP_" + variable] = value
        status: list[str] = []
        answer = b"".join(self.web(environ, lambda line, _headers: status.append(line)))
        return int(status[0].split()[0]), json.loads(answer)

    def fire_due(self, at: datetime) -> list[str]:
        """Move the clock to `at`, apply what is due then, as the worker's `fire_due` job does, and do the work it owes."""
        self.clock.move_to(at)
        changed = self.deadlines.fire_due()
        self.work()
        return changed

    def start_run(
        self, text: str = "Refund order #42 for $250", user: str = "U0ASKER", agent: str = "payments"
    ) -> ApprovalRequest:
        request = RunRequest(agent=agent, input_text=text, requested_by=user, reply_channel="C0ASKED")
        start_run(request, self.store, None)
        self.work()
        return self.wait_for_request(request.thread_id, timeout=5)


@contextmanager
def local_countersign(base: Settings, slack: SlackEmulator, database_url: str, secret: str) -> Iterator[Local]:
    """A `Local` on `database_url` (migrated here) and a queue nobody else reads."""
    settings = base.model_copy(
        update={
            "database_url": database_url,
            "countersign_queue": f"local-{uuid.uuid4().hex[:8]}",
            "countersign_agents": "tests.agents:AGENTS",
            "countersign_policies": None,
            "countersign_admins": "U0ADMIN,@countersign-admins",
            "usergroup_cache_seconds": 0.0,
            "channel_members_cache_seconds": 0.0,
            # A token of its own: the session's emulator also serves the stack's processes, and a fault a
            # test sets up for this tier's calls (`rate_limit(..., token=local.bot_token)`) is not theirs.
            "slack_bot_token": SecretStr(LOCAL_BOT_TOKEN),
        }
    )
    migrate(settings)
    local = Local(settings, slack, secret)
    try:
        yield local
    finally:
        local.stop()
        local.runtime.checkpointer.close()
        local.store.db.engine.dispose()
        Redis.from_url(settings.redis_url or "").delete(local.queue.queue.key)


__all__ = ["Clock", "Local", "WebClient", "create_db_engine", "local_countersign"]
