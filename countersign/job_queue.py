"""Enqueueing Countersign's RQ jobs by dotted name, so the bot never imports the worker (or LangGraph)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from redis import Redis
from rq import Callback, Queue, Retry
from rq.job import Job

START_RUN = "worker.jobs.start_run"
RESUME_RUN = "worker.jobs.resume_run"
REPORT_FAILURE = "worker.jobs.report_failure"
FIRE_DEADLINES = "worker.jobs.fire_deadlines"
REMIND = "worker.jobs.remind"

# The worker publishes the agents it runs here, so the bot can check a name without LangGraph.
AGENTS_KEY = "countersign:agents"

# Agent runs call models and tools: retry a crashed or killed job a few times, backing off.
_RETRY_INTERVALS = [2, 10, 60]


class RunRequest(BaseModel):
    """What a start-run job needs: which agent, what to ask it, who asked, and where to answer."""

    agent: str = Field(min_length=1)
    input_text: str = Field(min_length=1)
    thread_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    requested_by: str | None = None
    reply_channel: str | None = None


class JobQueue:
    """The RQ queue the bot, the CLI and Python code hand work to the worker through."""

    def __init__(self, connection: Redis, name: str = "countersign", job_timeout: int = 600) -> None:
        self.queue = Queue(name, connection=connection)
        self.job_timeout = job_timeout

    def enqueue_run(self, request: RunRequest) -> Job:
        """Start an agent run on the worker."""
        return self._enqueue(START_RUN, request.model_dump(), job_id=f"run-{request.thread_id}")

    def enqueue_resume(self, approval_id: str) -> Job:
        """Resume the run that a decided approval request paused."""
        return self._enqueue(RESUME_RUN, approval_id)

    def schedule_deadline(self, at: datetime) -> Job:
        """Wake the worker when a deadline falls due; one job per second however many fall in it."""
        # RQ's scheduler keeps whole seconds: round up, so a deadline is never applied early.
        second = math.ceil(at.timestamp())
        when = datetime.fromtimestamp(second, UTC)
        return self._enqueue(FIRE_DEADLINES, job_id=f"deadlines-{second}", at=when)

    def schedule_reminder(self, approval_id: str, stage: int, at: datetime) -> Job:
        """Post a reminder in the request's thread at `at`, if it is still pending at that stage."""
        second = math.ceil(at.timestamp())
        job_id = f"remind-{approval_id}-{stage}-{second}"
        return self._enqueue(REMIND, approval_id, stage, job_id=job_id, at=datetime.fromtimestamp(second, UTC))

    def publish_agents(self, names: list[str]) -> None:
        """Record the agent names a worker runs (called at worker start)."""
        with self.queue.connection.pipeline() as pipe:
            pipe.delete(AGENTS_KEY)
            if names:
                pipe.sadd(AGENTS_KEY, *names)
            pipe.execute()

    def known_agents(self) -> set[str]:
        """Agent names published by workers; empty when no worker has started yet."""
        return {name.decode() if isinstance(name, bytes) else name for name in self.queue.connection.smembers(AGENTS_KEY)}

    def _enqueue(self, func: str, *args: object, job_id: str | None = None, at: datetime | None = None) -> Job:
        options: dict[str, Any] = {
            "job_id": job_id,
            "job_timeout": self.job_timeout,
            "retry": Retry(max=len(_RETRY_INTERVALS), interval=_RETRY_INTERVALS),
            "on_failure": Callback(REPORT_FAILURE),
            "result_ttl": 3600,
            "failure_ttl": 7 * 24 * 3600,
        }
        if at is not None:
            return self.queue.enqueue_at(at, func, *args, **options)
        return self.queue.enqueue(func, *args, **options)
