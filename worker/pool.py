"""The processes that run jobs: RQ's `WorkerPool` of processes forked once from the preloaded parent,
each running its jobs in-process (RQ's `SimpleWorker`: no fork per job), and recycled now and then.

What forking a process per job bought is kept: RQ's job timeout still applies (a SIGALRM in the
process); a process that crashed or was killed mid-job is replaced by the pool within a second, and
its job is taken up again from SQL (the run's lease runs out, the dispatcher enqueues what is owed);
and a process retires after `max_jobs` jobs or once its resident memory passes `max_rss_mb`, so
nothing a job leaks lives long.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import time
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.worker_pool import WorkerPool

log = logging.getLogger(__name__)

# After Redis comes back, a process waits at most this long before dequeuing again (RQ's default is 60 s).
REDIS_RETRY_WAIT = 2.0
_PAGE = os.sysconf("SC_PAGE_SIZE")
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def resident_bytes() -> int:
    """This process's resident memory now (not its peak, which is what `getrusage` reports)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


class JobProcess(SimpleWorker):
    """One pool process: jobs in-process, quiet through Redis outages, retired when it has done enough."""

    max_jobs: int | None = None
    max_rss_bytes: int | None = None

    def work(self, *args: Any, **kwargs: Any) -> bool:
        """Work until stopped or retired; a lost Redis is waited out here rather than ending the process."""
        stop_with_parent()
        kwargs["max_jobs"] = self.max_jobs
        self.max_connection_wait_time = REDIS_RETRY_WAIT
        while True:
            try:
                return bool(super().work(*args, **kwargs))
            except RedisError as error:
                # RQ waits out a lost connection only while dequeuing; anywhere else (a heartbeat, its own
                # registration) it gives up. What is owed is in SQL: work again once Redis is back.
                log.warning("the queue went away (%s); this process carries on when it is back", error)
                wait_for(self.connection)

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run the job here, then retire if this process has grown past its ceiling."""
        super().execute_job(job, queue)
        if self.max_rss_bytes is not None and (rss := resident_bytes()) > self.max_rss_bytes:
            log.info("job process %s: %d MB resident, over the ceiling; retiring", os.getpid(), rss // 2**20)
            self._stop_requested = True


def stop_with_parent() -> None:
    """Ask Linux for a SIGTERM (RQ's warm shutdown: finish the job, then exit) when the worker that forked
    this process dies, so a SIGKILLed worker leaves no job processes working on without its dispatcher."""
    prctl = getattr(ctypes.CDLL(None), "prctl", None)
    if prctl is None:
        return  # not Linux: the pool's own SIGTERM on a clean stop is all there is
    parent = os.getppid()
    prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent or parent == 1:
        os.kill(os.getpid(), signal.SIGTERM)  # the parent died before the request took effect


def job_process_class(max_jobs: int | None, max_rss_mb: int | None) -> type[JobProcess]:
    """A `JobProcess` with these limits (the pool forks its processes with the class as it is)."""
    limits = {"max_jobs": max_jobs, "max_rss_bytes": max_rss_mb * 2**20 if max_rss_mb else None}
    return type("JobProcess", (JobProcess,), limits)


def wait_for(connection: Redis) -> None:
    """Block until Redis answers again."""
    while True:
        try:
            connection.ping()
            return
        except RedisError:
            time.sleep(REDIS_RETRY_WAIT)


def run_pool(queue: Queue, connection: Redis, processes: int, worker_class: type[JobProcess], *, burst: bool) -> None:
    """Fork `processes` job processes and keep that many alive until SIGTERM/SIGINT (or, in burst mode, until
    the queue is empty)."""
    pool = WorkerPool([queue], connection=connection, num_workers=processes, worker_class=worker_class)
    pool.start(burst=burst, logging_level="INFO")
