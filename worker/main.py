"""`countersign worker`: an RQ worker whose process preloads everything a job needs, with the dispatcher
beside it re-deriving owed work from SQL."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError

from approvals.admin_settings import AdminSettings
from approvals.job_queue import JobQueue, connect
from approvals.models import utcnow
from approvals.policies import PolicyError, load_policies
from approvals.prometheus import serve
from approvals.schema import SchemaNotCurrent, check_schema
from approvals.settings import Settings, load_settings, masked_url
from approvals.store import Store, create_db_engine
from bot.outbound import SlackNotifier
from bot.slack_client import create_slack_client
from bot.user_groups import UserGroupDirectory
from worker import jobs, metrics
from worker.deadlines import DeadlineService
from worker.dispatcher import Dispatcher
from worker.policy_check import unappliable_rules, unknown_agents
from worker.pool import job_process_class, run_pool
from worker.registry import AgentRegistry
from worker.runtime import AgentRuntime

log = logging.getLogger(__name__)


def build_services(settings: Settings | None = None, clock: Callable[[], datetime] = utcnow) -> jobs.Services:
    """Load settings, check the schema, open the store, load the agent registry (compiling every graph),
    the policies and the Slack client; `clock` says what time deadlines compare with."""
    settings = settings or load_settings()
    if settings.redis_url is None:
        raise SystemExit("countersign: REDIS_URL: not set (the worker needs the queue's Redis)")
    # Configuration first: a wrong setting is named before anything connects anywhere.
    try:
        registry = AgentRegistry.from_import_path(settings.countersign_agents)
    except ValueError as error:
        raise SystemExit(f"countersign: {error}") from None
    try:
        policies = load_policies(settings.countersign_policies)
    except PolicyError as error:
        raise SystemExit(f"countersign: COUNTERSIGN_POLICIES: {error}") from None
    if problems := unappliable_rules(policies, registry) + unknown_agents(policies, registry):
        raise SystemExit(f"countersign: COUNTERSIGN_POLICIES: {'; '.join(problems)}")
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        check_schema(engine)
    except SchemaNotCurrent as error:
        raise SystemExit(f"countersign: DATABASE_URL: {error}") from None
    # A forked job must not share the parent's pooled connections (SQLAlchemy's advice for fork).
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    store = Store(engine)
    store.db.warm_up()
    client = create_slack_client(settings)
    notifier = SlackNotifier(client, settings.approvals_channel, UserGroupDirectory(client, settings.usergroup_cache_seconds))
    queue = JobQueue(connect(settings.redis_url), settings.countersign_queue, settings.run_timeout)
    runtime = AgentRuntime(settings, store, registry, notifier, policies, queue, AdminSettings(engine))
    return jobs.Services(runtime=runtime, deadlines=DeadlineService(store, notifier, queue, clock))


def run_worker(settings: Settings, *, burst: bool = False, processes: int | None = None) -> None:
    """Preload, start the dispatcher, then keep a pool of job processes working the queue until stopped."""
    services = build_services(settings)
    jobs.install(services)
    runtime = services.runtime
    connection = Redis.from_url(settings.redis_url or "")
    try:
        connection.ping()
    except RedisError as error:
        raise SystemExit(f"countersign: REDIS_URL: cannot reach {masked_url(settings.redis_url or '')}: {error}") from None
    queue = JobQueue(connection, settings.countersign_queue, settings.run_timeout)
    count = processes or settings.worker_processes
    dispatcher = Dispatcher(
        runtime.store,
        queue,
        runtime.registry.names(),
        interval=settings.dispatch_interval,
        lease=timedelta(seconds=settings.lease_seconds),
    )
    if settings.metrics_port:
        serve(settings.metrics_port, metrics.registry(runtime.store), settings.host)
    # After /metrics: the dispatcher publishes the agents too, if it finds them missing.
    dispatcher.start()
    # Published last: whoever waits for the agents (the CLI, the tests) finds the dispatcher and /metrics up.
    queue.publish_agents(runtime.registry.names())
    log.info(
        "worker ready: agents %s, queue %r, %d job processes",
        ", ".join(runtime.registry.names()),
        settings.countersign_queue,
        count,
    )
    # The job processes are forks of this one. Without this, each one's first garbage collection walks
    # the whole preloaded heap and dirties every page it shares with us.
    gc.collect()
    gc.freeze()
    try:
        run_pool(
            queue.queue,
            connection,
            count,
            job_process_class(settings.worker_max_jobs, settings.worker_max_rss_mb),
            burst=burst,
            on_death=runtime.store.runs.release_held_by,
        )
    finally:
        dispatcher.stop()
