"""`countersign worker`: an RQ worker (scheduler on) whose parent process preloads everything a job needs."""

from __future__ import annotations

import gc
import logging
import os

from redis import Redis
from redis.exceptions import RedisError
from rq import Worker

from approvals.admin_settings import AdminSettings
from approvals.approval_store import ApprovalStore, create_db_engine
from approvals.policies import PolicyError, load_policies
from approvals.settings import Settings, load_settings
from bot.outbound import SlackNotifier
from bot.slack_client import create_slack_client
from countersign.job_queue import JobQueue
from worker import jobs
from worker.checkpointer import setup_checkpointer
from worker.registry import AgentRegistry
from worker.runtime import AgentRuntime

log = logging.getLogger(__name__)


def build_runtime(settings: Settings | None = None) -> AgentRuntime:
    """Load settings, the store, the agent registry (compiling every graph) and the Slack client."""
    settings = settings or load_settings()
    if settings.redis_url is None:
        raise SystemExit("countersign: REDIS_URL: not set (the worker needs the queue's Redis)")
    engine = create_db_engine(settings.sqlalchemy_url)
    # A forked job must not share the parent's pooled connections (SQLAlchemy's advice for fork).
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    store = ApprovalStore(engine)
    store.create_schema()
    store.warm_up()
    setup_checkpointer(settings)
    try:
        registry = AgentRegistry.from_import_path(settings.countersign_agents)
    except ValueError as error:
        raise SystemExit(f"countersign: {error}") from None
    try:
        policies = load_policies(settings.countersign_policies)
    except PolicyError as error:
        raise SystemExit(f"countersign: COUNTERSIGN_POLICIES: {error}") from None
    notifier = SlackNotifier(create_slack_client(settings), store, settings.approvals_channel)
    redis = Redis.from_url(settings.redis_url)
    queue = JobQueue(redis, settings.countersign_queue, settings.run_timeout)
    return AgentRuntime(settings, store, registry, notifier, redis, policies, queue, AdminSettings(engine))


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """Preload, then work the queue until stopped."""
    runtime = build_runtime(settings)
    jobs.install(runtime)
    log.info("worker ready: agents %s, queue %r", ", ".join(runtime.registry.names()), settings.countersign_queue)
    connection = Redis.from_url(settings.redis_url or "")
    try:
        connection.ping()
    except RedisError as error:
        raise SystemExit(f"countersign: REDIS_URL: cannot reach {settings.redis_url}: {error}") from None
    queue = JobQueue(connection, settings.countersign_queue, settings.run_timeout)
    queue.publish_agents(runtime.registry.names())
    # Decisions and deadlines live in SQL; what Redis lost (flush, failover) is queued again here.
    for approval_id in runtime.store.decided_not_resumed():
        log.info("re-queueing the resume of decided approval %s", approval_id)
        queue.enqueue_resume(approval_id)
    deadlines = runtime.store.pending_deadlines()
    for _, deadline_at, _ in deadlines:
        queue.schedule_deadline(deadline_at)
    log.info("re-scheduled %d pending deadlines", len(deadlines))
    worker = Worker([queue.queue], connection=connection)
    # Each job runs in a fork of this process. Without this, the fork's first garbage collection
    # walks the whole preloaded heap (~100 ms a job) and dirties every page it shares with us.
    gc.collect()
    gc.freeze()
    worker.work(with_scheduler=True, burst=burst, logging_level="INFO")
