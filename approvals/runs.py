"""Starting agent runs: stored in SQL first (from then on the run is owed and cannot be lost), then
handed to a worker through the queue when it is reachable.

    start_run(RunRequest(agent="payments", input_text="Refund order #42 for $250"), store, queue)
"""

from __future__ import annotations

import logging
import uuid

from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from approvals.job_queue import JobQueue
from approvals.models import Run, RunStatus
from approvals.store import Store

log = logging.getLogger(__name__)


class RunRequest(BaseModel):
    """What starting a run needs: which agent, what to ask it, who asked, and where to answer."""

    agent: str = Field(min_length=1, max_length=200)
    input_text: str = Field(min_length=1)
    thread_id: str = Field(default_factory=lambda: uuid.uuid4().hex, pattern=r"^[\w.-]{1,64}$")
    requested_by: str | None = Field(None, max_length=64)
    reply_channel: str | None = Field(None, max_length=64)


class StartedRun(BaseModel):
    """A stored run, and whether a worker was handed it at once (else the dispatcher hands it over
    within seconds of the queue being reachable)."""

    run: Run
    handed_over: bool


def start_run(request: RunRequest, store: Store, queue: JobQueue | None) -> StartedRun:
    """Store the run, then enqueue it; a queue that cannot be reached delays it and loses nothing."""
    run = store.runs.create_run(Run(**request.model_dump(), status=RunStatus.QUEUED))
    if queue is None:
        return StartedRun(run=run, handed_over=False)
    try:
        queue.enqueue_run(run.thread_id)
    except RedisError as error:
        log.warning("run %s is stored; the queue is unreachable (%s), so the dispatcher will start it", run.thread_id, error)
        return StartedRun(run=run, handed_over=False)
    return StartedRun(run=run, handed_over=True)
