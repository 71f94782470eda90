"""The jobs the bot, the command line and the dispatcher hand to workers, enqueued on RQ by dotted name
(so the bot never imports the worker, or LangGraph).

Redis is the fast path only: every job stands for work SQL says is owed, a job carries ids and
nothing else, and its id is deterministic (`run-<thread>`, `resume-<request>`, `clock`),
so however often the same work is handed over it is one job.

Jobs are written and read as JSON (RQ's `JSONSerializer`), never pickle: a job in Redis is a dotted name
and strings, and cannot carry code. One written with pickle (by anyone who can write that Redis) fails
to deserialize when a worker takes it, is recorded as failed, and runs nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from rq import Queue
from rq.exceptions import DeserializationError, DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import str_to_date

log = logging.getLogger(__name__)

RUN = "worker.jobs.run"
RESUME = "worker.jobs.resume"
FIRE_DUE = "worker.jobs.fire_due"

# The worker publishes the agents it runs here, so the bot can check a name without LangGraph.
AGENTS_KEY = "countersign:agents"

_WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}

# How long a command waits on a Redis that took the connection but does not answer (paused, or behind a
# network path that drops packets). redis-py before 8.0 waits for ever: a bot's thread handing over a
# resume would hang with it, and the message update queued behind it.
REDIS_TIMEOUT_SECONDS = 5.0


# Every queue, job fetch and job process of Countersign's reads and writes jobs with this.
SERIALIZER = JSONSerializer


class JsonQueue(Queue):
    """RQ's `Queue` with JSON as its serializer whoever builds it: RQ's pool builds its job processes'
    queues itself, by class and name, and RQ builds the queue of each job it takes the same way."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["serializer"] = SERIALIZER
        super().__init__(*args, **kwargs)


def connect(url: str) -> Redis:
    """A Redis client for the job queue that gives up on a silent server after REDIS_TIMEOUT_SECONDS (a
    `RedisError`, which callers take as "the queue is unreachable"), whatever redis-py's default."""
    return Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS)


def run_job_id(thread_id: str) -> str:
    """The one job that takes a run further."""
    return f"run-{thread_id}"


def resume_job_id(approval_id: str) -> str:
    """The one job that hands a decided request to its agent."""
    return f"resume-{approval_id}"


def _older(moment: datetime | None, than: timedelta) -> bool:
    """True when `moment` (RQ keeps naive UTC) is further back than `than`; a job without one is not."""
    if moment is None:
        return False
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return datetime.now(UTC) - aware > than


def _status(stored: bytes | str | None) -> JobStatus | None:
    """A job's status as its hash holds it; None when it has none, or one RQ does not know (damage)."""
    try:
        return JobStatus(stored.decode() if isinstance(stored, bytes) else stored) if stored else None
    except ValueError:
        return None


def _looks_live(
    status: bytes | None, enqueued_at: bytes | None, started_at: bytes | None, started_grace: timedelta
) -> str | None:
    """What a job's hash says at a glance: young jobs, waiting or started, are live ("waiting", "started");
    a job waiting longer than the grace is "long waiting"; anything else (None) is looked at closely."""
    state = _status(status)
    if state in _WAITING:
        return "long waiting" if _older(_moment(enqueued_at), started_grace) else "waiting"
    if state == JobStatus.STARTED and not _older(_moment(started_at), started_grace):
        return "started"
    return None


def _moment(stored: bytes | str | None) -> datetime | None:
    """A time as RQ stores it in a job's hash (empty when unset)."""
    return str_to_date(stored) if stored else None


class JobQueue:
    """The RQ queue workers take Countersign's jobs from."""

    def __init__(self, connection: Redis, name: str = "countersign", job_timeout: int = 600) -> None:
        self.queue: Queue = JsonQueue(name, connection=connection)
        self.job_timeout = job_timeout

    @property
    def connection(self) -> Redis:
        """The Redis connection the queue lives on."""
        return self.queue.connection

    def enqueue_run(self, thread_id: str) -> bool:
        """Hand a stored run to a worker; False when that job is already queued or running."""
        return self._enqueue(RUN, thread_id, job_id=run_job_id(thread_id))

    def enqueue_resume(self, approval_id: str) -> bool:
        """Hand a decided request to a worker; False when that job is already queued or running."""
        return self._enqueue(RESUME, approval_id, job_id=resume_job_id(approval_id))

    def ensure(self, func: str, args: tuple[str, ...], job_id: str, started_grace: timedelta) -> str:
        """Make sure owed work has a live job: enqueue it, or keep the one there is; a job left started
        longer than `started_grace` by a worker that no longer holds the work's lease is dead and replaced.
        Returns what it found: `enqueued`, `waiting`, `started` or `replaced`."""
        return self.ensure_all(func, [(args, job_id)], started_grace)[0]

    def ensure_all(self, func: str, owed: list[tuple[tuple[str, ...], str]], started_grace: timedelta) -> list[str]:
        """`ensure` for many (args, job id) pairs of one kind, in order. The jobs are read in one round trip,
        and only the missing or doubtful ones cost more: a dispatcher pass over a busy backlog is cheap."""
        with self.connection.pipeline(transaction=False) as pipe:
            for _, job_id in owed:
                pipe.hmget(Job.key_for(job_id), "status", "enqueued_at", "started_at")
            states = pipe.execute()
        found = [_looks_live(status, enqueued, started, started_grace) for status, enqueued, started in states]
        if "long waiting" in found:
            # A backlog older than the grace is normal under load: a job still on the queue is live. One read
            # of the queue (a job per owed item) instead of a fetch and a search of the queue for each.
            listed = set(self.connection.lrange(self.queue.key, 0, -1))
            found = [
                "waiting" if how == "long waiting" and job_id.encode() in listed else how
                for how, (_, job_id) in zip(found, owed, strict=True)
            ]
        return [
            how if how in ("waiting", "started") else self._ensure_one(func, args, job_id, started_grace)
            for how, (args, job_id) in zip(found, owed, strict=True)
        ]

    def _ensure_one(self, func: str, args: tuple[str, ...], job_id: str, started_grace: timedelta) -> str:
        if self._enqueue(func, *args, job_id=job_id):
            return "enqueued"
        try:
            job = Job.fetch(job_id, connection=self.connection, serializer=SERIALIZER)
            status = job.get_status(refresh=False)
        except NoSuchJobError:
            return "enqueued" if self._enqueue(func, *args, job_id=job_id) else "waiting"
        except (ValueError, DeserializationError) as error:
            # A job RQ cannot read (only by damage) would never run, and would stop every pass here.
            log.warning("job %s in Redis cannot be read (%s); it is replaced", job_id, error)
            with self.connection.pipeline() as pipe:
                pipe.delete(Job.key_for(job_id))
                pipe.lrem(self.queue.key, 0, job_id)
                pipe.lrem(self.queue.intermediate_queue_key, 0, job_id)
                pipe.execute()
            self._enqueue(func, *args, job_id=job_id)
            return "replaced"
        if status in _WAITING:
            # A worker that dies between taking the id off the queue and starting the job leaves it
            # "queued" on no list (RQ's intermediate list, cleaned every ten minutes): nothing would run it.
            if self.connection.lpos(self.queue.key, job_id) is not None or not _older(job.enqueued_at, started_grace):
                return "waiting"
            self.connection.lrem(self.queue.intermediate_queue_key, 0, job_id)
        elif status == JobStatus.STARTED and not _older(job.started_at, started_grace):
            return "started"
        # Finished, failed or stopped, started by a worker that died, or lost in between: a new job runs it.
        job.delete()
        self._enqueue(func, *args, job_id=job_id)
        return "replaced"

    def publish_agents(self, names: list[str]) -> None:
        """Record the agent names a worker runs (at worker start, and again by the dispatcher if Redis lost it)."""
        with self.connection.pipeline() as pipe:
            pipe.delete(AGENTS_KEY)
            if names:
                pipe.sadd(AGENTS_KEY, *names)
            pipe.execute()

    def known_agents(self) -> set[str]:
        """Agent names published by workers; empty when no worker has started yet."""
        return {name.decode() if isinstance(name, bytes) else name for name in self.connection.smembers(AGENTS_KEY)}

    def _enqueue(self, func: str, *args: Any, job_id: str) -> bool:
        try:
            self.queue.enqueue(
                func,
                *args,
                job_id=job_id,
                unique=True,
                job_timeout=self.job_timeout,
                # SQL keeps what happened; a finished job's hash would only block the next one of its id.
                result_ttl=0,
                failure_ttl=24 * 3600,
            )
        except DuplicateJobError:
            return False
        return True
