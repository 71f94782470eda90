"""The processes that run jobs: RQ's `WorkerPool` of processes forked once from the preloaded parent,
each running its jobs in-process (RQ's `SimpleWorker`: no fork per job), and recycled now and then.

What forking a process per job bought is kept: RQ's job timeout still applies (a SIGALRM in the
process); a process that crashed or was killed mid-job is replaced by the pool within a second, and
its job is taken up again from SQL (the pool fails its RQ job and gives back its leases, as RQ's
forking worker does for a dead work horse, and the dispatcher's next pass enqueues what is owed);
and a process retires after `max_jobs` jobs or once its resident memory passes `max_rss_mb`, so
nothing a job leaks lives long.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from multiprocessing.process import BaseProcess
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job, JobStatus
from rq.utils import now
from rq.worker_pool import WorkerData

from approvals.job_queue import SERIALIZER, JsonQueue
from worker.leases import owner_prefix, process_tag, tag_process
from worker.rq_pool_loop import PoolLoop, run_inside, unsubscribe
from worker.services import retire

log = logging.getLogger(__name__)

# After Redis comes back, a process waits at most this long before dequeuing again (RQ's default is 60 s).
REDIS_RETRY_WAIT = 2.0
# RQ beats a process's worker key before and after each dequeue (three round trips each), which only keeps the key
# alive for RQ's monitoring (it expires minutes after the last beat; nothing of Countersign reads it): once in this
# long is enough.
HEARTBEAT_EVERY = timedelta(seconds=30)
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
    # Inside RQ's work loop, whose `try` catches the stop RQ raises when idle.
    _looping = False

    def work(self, *args: Any, **kwargs: Any) -> bool:
        """Work until stopped or retired; a lost Redis is waited out here rather than ending the process."""
        # Until RQ's handlers replace these, a stop is only noted (see `_start_job_process`): RQ's loop
        # sees it first thing and stops cleanly.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._stop_while_starting)
        self._stop_requested = self._stop_requested or _stop_noted
        tag_process(self.name)
        stop_with_parent()
        kwargs["max_jobs"] = self.max_jobs
        # RQ's pool asks every process for RQ's scheduler, a process of its own that moves jobs enqueued
        # for later onto the queue. Countersign enqueues nothing for later (what is due is in SQL, for the
        # dispatcher), and each scheduler holds its process's stop up by up to a second.
        kwargs["with_scheduler"] = False
        self.max_connection_wait_time = REDIS_RETRY_WAIT
        try:
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
        finally:
            retire()

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's, sent with a job's own bookkeeping as RQ does, and otherwise once in `HEARTBEAT_EVERY`, in one round trip."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            return
        if timeout is None and self.last_heartbeat is not None and now() - self.last_heartbeat < HEARTBEAT_EVERY:
            return
        with self.connection.pipeline(transaction=False) as beat:
            super().heartbeat(timeout, beat)
            beat.execute()

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """RQ's, which sets `idle` twice between two jobs: once is enough."""
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline)

    def _stop_while_starting(self, signum: int, frame: object) -> None:
        self._stop_requested = True

    def request_stop(self, signum: int, frame: Any) -> None:
        """RQ's warm shutdown, noted first: idle, RQ stops by raising, and does not note it. Outside RQ's loop
        (its handlers are installed just before the loop's `try`, and still run in its `finally`) nothing
        would catch that raise, so there the stop is only noted, and the loop sees it first thing."""
        self._stop_requested = True
        if self._looping:
            super().request_stop(signum, frame)  # type: ignore[no-untyped-call]  # RQ's method is untyped

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's, which its loop calls first inside its `try`: from here on RQ's raised stop is caught."""
        self._looping = True
        super().check_for_suspension(burst)

    def teardown(self) -> None:
        """RQ's, after its loop."""
        self._looping = False
        super().teardown()  # type: ignore[no-untyped-call]  # RQ's method is untyped

    def unsubscribe(self) -> None:
        """RQ's, in an order that does not wait out a read (`worker.rq_pool_loop.unsubscribe`)."""
        unsubscribe(self)

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run the job here, then retire if this process has grown past its ceiling."""
        super().execute_job(job, queue)
        if self.max_rss_bytes is not None and (rss := resident_bytes()) > self.max_rss_bytes:
            log.info("job process %s: %d MB resident, over the ceiling; retiring", os.getpid(), rss // 2**20)
            self._stop_requested = True


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
# Set by a stop that came before this job process had a worker to tell.
_stop_noted = False


def _note_stop(signum: int, frame: object) -> None:
    global _stop_noted
    _stop_noted = True


def _start_job_process(run: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Run RQ's job process body, a stop meanwhile only noted."""
    # A stop can come while RQ is still starting the process (the pool's shutdown command when the
    # worker is stopped at once), before RQ installs its own handlers. Python's default would raise
    # KeyboardInterrupt wherever the process was (in the fork's own clean-up, connecting to Redis,
    # inside a lock's release) and it would die with a traceback. The pool forked this process with
    # the stop signals held back (`JobPool.start_worker`); one sent meanwhile arrives here.
    for signum in _STOP_SIGNALS:
        signal.signal(signum, _note_stop)
    for handler in logging.getLogger().handlers:
        let_stops_through(handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    run(*args, **kwargs)


def let_stops_through(handler: logging.Handler) -> None:
    """Have `handler` pass on RQ's `StopRequested` instead of reporting it as a failure to log.

    An idle job process stops by RQ's signal handler raising `StopRequested` wherever the process is,
    so its loop can break out of a blocking dequeue. When that is in the middle of writing a log line,
    logging catches it as its own error: a "--- Logging error ---" traceback, and the stop swallowed.
    """
    report = handler.handleError

    def handle_error(record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], StopRequested):
            raise  # handleError runs inside logging's `except`: this re-raises the stop it caught
        report(record)

    handler.handleError = handle_error  # type: ignore[method-assign]


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


class JobPool(PoolLoop):
    """The pool (`PoolLoop`, on RQ's `WorkerPool`), which lets go at once of what a job process that died
    held, and forks its processes with the stop signals held back."""

    def __init__(self, *args: Any, on_death: Callable[[str], list[str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Gives back the SQL leases of a dead job process (given how their owners begin); returns their runs.
        self.on_death = on_death

    def handle_dead_worker(self, worker_data: WorkerData) -> None:
        """RQ's, and a job process that died mid-job has its job failed and its leases given back, so the
        dispatcher's next pass hands its run on (RQ's pool leaves the job "started", and the run's lease
        would hold it until it ran out)."""
        super().handle_dead_worker(worker_data)
        exit_code = worker_data.process.exitcode
        if exit_code == 0:
            return  # stopped or retired: it finished its job and let go of its leases itself
        # Each on its own: whatever is not let go of here is once the leases run out (the dispatcher
        # replaces a job left started by a worker that holds no lease).
        try:
            self._fail_current_job(worker_data.name, exit_code)
        except Exception:
            log.warning("could not fail the RQ job of job process %d", worker_data.pid, exc_info=True)
        try:
            prefix = owner_prefix(worker_data.pid, process_tag(worker_data.name))
            threads = self.on_death(prefix) if self.on_death else []
        except Exception:
            log.warning("could not give back the leases of job process %d", worker_data.pid, exc_info=True)
            return
        if threads:
            log.warning(
                "job process %d died (exit code %s) working on run %s; it is taken up again",
                worker_data.pid,
                exit_code,
                ", ".join(threads),
            )

    def _fail_current_job(self, name: str, exit_code: int | None) -> None:
        """Do for a dead pool process what RQ's forking worker does for a dead work horse."""
        dead = self.worker_class.find_by_key(
            self.worker_class.redis_worker_namespace_prefix + name,
            connection=self.connection,
            queue_class=self.queue_class,
            serializer=self.serializer,
        )
        if dead is None:
            return
        execution = dead.execution
        job = dead.get_current_job() if execution else None
        if job is not None and job.get_status() not in (JobStatus.FINISHED, JobStatus.FAILED):
            queue = self.queue_class(job.origin, connection=self.connection)
            dead.handle_job_failure(
                job, queue=queue, exc_string=f"the job process died (exit code {exit_code})", execution=execution
            )
        dead.register_death()  # type: ignore[no-untyped-call]  # RQ's method is untyped

    def get_worker_process(self, name: str, burst: bool, _sleep: float = 0, logging_level: str = "INFO") -> BaseProcess:
        """RQ's job process, which notes a stop from its first line (`_start_job_process`)."""
        return run_inside(super().get_worker_process(name, burst, _sleep, logging_level), _start_job_process)

    def start_worker(self, *args: Any, **kwargs: Any) -> None:
        """RQ's, forking with the stop signals held back: the job process takes one sent meanwhile once
        it can (`_start_job_process`)."""
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            super().start_worker(*args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)


def run_pool(
    queue: Queue,
    connection: Redis,
    processes: int,
    worker_class: type[JobProcess],
    *,
    burst: bool,
    on_death: Callable[[str], list[str]] | None = None,
) -> None:
    """Fork `processes` job processes and keep that many alive until SIGTERM/SIGINT (or, in burst mode, until
    the queue is empty); `on_death(owner_prefix)` gives back the leases of one that died."""
    pool = JobPool(
        [queue],
        connection=connection,
        num_workers=processes,
        worker_class=worker_class,
        # What the job processes dequeue with, and the queues RQ builds for them: JSON, as `JobQueue` enqueues.
        serializer=SERIALIZER,
        queue_class=JsonQueue,
        on_death=on_death,
    )
    pool.start(burst=burst, logging_level="INFO")
