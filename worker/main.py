"""`countersign worker`: an RQ worker whose process preloads everything a job needs, with the dispatcher
beside it re-deriving owed work from SQL."""

from __future__ import annotations

import gc
import logging
from datetime import timedelta

from approvals.job_queue import JobQueue
from approvals.prometheus import serve
from approvals.settings import Settings
from approvals.wiring import reachable_redis
from countersign.wiring import WORKER_NEEDS_REDIS, build_services
from worker import metrics
from worker.dispatcher import Dispatcher
from worker.pool import job_process_class, run_pool
from worker.services import install

log = logging.getLogger(__name__)


def run_worker(settings: Settings, *, burst: bool = False, processes: int | None = None) -> None:
    """Preload, start the dispatcher, then keep a pool of job processes working the queue until stopped."""
    services = build_services(settings)
    install(services)
    runtime = services.runtime
    connection = reachable_redis(settings, WORKER_NEEDS_REDIS)
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
