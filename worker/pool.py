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
        # A stop can come while RQ is still starting (the pool's shutdown command when the worker is
        # stopped at once, or the SIGTERM below), before RQ installs its own handlers. Python's default
        # would raise KeyboardInterrupt wherever this process was (inside a lock's release, just after
        # starting RQ's scheduler process, which this process's exit then waited for forever, and the
        # pool for it). Until RQ's handlers replace these, a stop is only noted: RQ's loop sees it first
        # thing and stops cleanly, its scheduler with it.
        self._starting_pid = os.getpid()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._stop_while_starting)
        stop_with_parent()
        kwargs["max_jobs"] = self.max_jobs
        self.max_connection_wait_time = REDIS_RETRY_WAIT
        while True:
            try:
                return bool(super().work(*args, **kwargs))
            except RedisError as error:
                if self._stop_requested:
                    # Stopping: RQ's stop is an exception raised wherever the process was, and one raised
                    # inside a Redis pipeline makes the next command on that connection fail. Not a reason
                    # to start again.
                    return False
                # RQ waits out a lost connection only while dequeuing; anywhere else (a heartbeat, its own
                # registration) it gives up. What is owed is in SQL: work again once Redis is back.
                log.warning("the queue went away (%s); this process carries on when it is back", error)
                wait_for(self.connection)

    def _stop_while_starting(self, signum: int, frame: object) -> None:
        if os.getpid() != self._starting_pid:
            # RQ's scheduler, forked before RQ's handlers replaced these and before it installed its own:
            # stopped as it would have been without them (a stop noted on a copy of the worker would be
            # lost, and the worker's teardown waits for the scheduler to end).
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self._stop_requested = True

    def request_stop(self, signum: int, frame: Any) -> None:
        """RQ's warm shutdown, noted first: idle, RQ stops by raising, and does not note it."""
        self._stop_requested = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]  # RQ's method is untyped

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
