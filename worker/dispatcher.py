"""The dispatcher: SQL says what is owed, and this makes sure each owed item has a job.

It runs beside every worker, a pass every COUNTERSIGN_DISPATCH_INTERVAL seconds (sooner when a
deadline falls due before that). A pass hands over runs to take further and decisions to deliver
whose thread no live lease covers, and a `fire_due` job when a deadline, escalation or reminder is
due. Job ids are deterministic, so a pass that finds a job queued or running adds nothing, and
several dispatchers (one per worker) never double the work. Redis losing its data, or being down
for a while, delays work by a pass and loses none.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from approvals.job_queue import AGENTS_KEY, FIRE_DUE, RESUME, RUN, JobQueue, resume_job_id, run_job_id
from approvals.models import utcnow
from approvals.store import Store
from worker.fork_guard import between_forks

log = logging.getLogger(__name__)

_CLOCK_JOB = "clock"
# A `fire_due` job should take a second or two; one started this long ago belongs to a dead worker.
_CLOCK_GRACE = timedelta(seconds=60)


class DispatchReport(BaseModel):
    """What one pass handed over (job ids), and when the next thing falls due."""

    runs: list[str] = []
    resumes: list[str] = []
    fired: bool = False
    next_due: datetime | None = None


@dataclass(eq=False)
class Dispatcher:
    """Re-derives owed work from SQL and enqueues what has no live job."""

    store: Store
    queue: JobQueue
    agents: list[str]
    _: KW_ONLY
    interval: float
    lease: timedelta
    clock: Callable[[], datetime] = utcnow
    _stop: threading.Event = field(init=False, default_factory=threading.Event)
    _thread: threading.Thread | None = field(init=False, default=None)
    _failing: bool = field(init=False, default=False)

    def dispatch(self) -> DispatchReport:
        """One pass: hand over every owed run, resume and due deadline that has no live job."""
        now = self.clock()
        report = DispatchReport()
        threads = self.store.due.runs_owed(now)
        handed = self.queue.ensure_all(RUN, [((t,), run_job_id(t)) for t in threads], self.lease)
        report.runs = [t for t, how in zip(threads, handed, strict=True) if how in ("enqueued", "replaced")]
        decided = self.store.due.resumes_owed(now)
        handed = self.queue.ensure_all(RESUME, [((a,), resume_job_id(a)) for a in decided], self.lease)
        report.resumes = [a for a, how in zip(decided, handed, strict=True) if how in ("enqueued", "replaced")]
        report.next_due = self.store.due.next_due()
        if report.next_due is not None and report.next_due <= now:
            report.fired = self.queue.ensure(FIRE_DUE, (), _CLOCK_JOB, _CLOCK_GRACE) in ("enqueued", "replaced")
        if not self.queue.connection.exists(AGENTS_KEY):
            self.queue.publish_agents(self.agents)
        return report

    def start(self) -> None:
        """Run passes in a daemon thread until `stop`."""
        self._thread = threading.Thread(target=self._loop, name="countersign-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the current pass and stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            # The pass and what it logs happen between forks: a log line half-written to a buffered
            # stderr as the pool forks a job process would leave the child that stream's lock held, and
            # the job process would hang on its first log line.
            with between_forks():
                wait = self._pass()
            self._stop.wait(wait)

    def _pass(self) -> float:
        """One dispatch pass and what it says; returns how long to wait before the next."""
        wait = self.interval
        try:
            report = self.dispatch()
            if report.runs or report.resumes:
                log.info("dispatched %d runs and %d resumes owed in SQL", len(report.runs), len(report.resumes))
            if self._failing:
                log.info("dispatcher: the queue and the database answer again")
            self._failing = False
            if report.next_due is not None:
                # Wake for the next deadline; one already due is being applied, so look again shortly.
                until_due = (report.next_due - self.clock()).total_seconds()
                wait = min(wait, until_due if until_due > 0 else 0.25)
        except (RedisError, SQLAlchemyError, OSError) as error:
            # Said once, not every pass: what is owed stays in SQL until this clears.
            if not self._failing:
                log.warning("dispatcher: %s; work waits until it answers again", error)
            self._failing = True
        except Exception:
            log.exception("dispatcher pass failed")
        return wait
