"""The RQ jobs, enqueued by dotted name (see `approvals.job_queue`); each takes ids and opens what it needs.

They use the services the worker process installed (`worker.services`). A job never raises for a failed
attempt: the runtime records it in SQL, which decides the retry.
"""

from __future__ import annotations

import logging

from worker import metrics
from worker.services import installed

log = logging.getLogger(__name__)


def run(thread_id: str) -> str:
    """Job: take a run further (start it, carry on after a crash, post where it stopped or how it ended)."""
    outcome = installed().runtime.advance(thread_id)
    log.info("run %s: %s", thread_id, outcome)
    metrics.RUNS.labels(outcome).inc()
    return outcome


def resume(approval_id: str) -> str:
    """Job: hand a decided request to its agent and take the run further."""
    outcome = installed().runtime.resume(approval_id)
    log.info("resume of approval %s: %s", approval_id, outcome)
    metrics.RESUMES.labels(outcome).inc()
    return outcome


def fire_due() -> list[str]:
    """Job: apply every deadline, escalation and reminder that fell due."""
    return installed().deadlines.fire_due()
