"""The RQ jobs, enqueued by dotted name (see `approvals.job_queue`); each takes ids and opens what it needs.

They use the `Worker` services the worker process built and preloaded (`install`), so a job pays
no import or set-up cost; run under a plain `rq worker` (with `--serializer rq.serializers.JSONSerializer`,
as jobs are JSON), they build them on first use. A job never
raises for a failed attempt: the runtime records it in SQL, which decides the retry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from worker import metrics
from worker.deadlines import DeadlineService
from worker.runtime import AgentRuntime


@dataclass(frozen=True)
class Services:
    """What jobs use: the agent runtime and the deadline service."""

    runtime: AgentRuntime
    deadlines: DeadlineService


log = logging.getLogger(__name__)

_services: Services | None = None


def install(services: Services) -> None:
    """Make `services` the ones every job in this process (and its forks) uses."""
    global _services
    _services = services


def services() -> Services:
    """The installed services, built from the environment if the worker did not preload them."""
    if _services is None:
        from worker.main import build_services

        install(build_services())
    assert _services is not None
    return _services


def retire() -> None:
    """Close what this process kept open across its jobs (its checkpointer's connection), as it exits."""
    if _services is not None:
        _services.runtime.checkpointer.close()


def run(thread_id: str) -> str:
    """Job: take a run further (start it, carry on after a crash, post where it stopped or how it ended)."""
    outcome = services().runtime.advance(thread_id)
    log.info("run %s: %s", thread_id, outcome)
    metrics.RUNS.labels(outcome).inc()
    return outcome


def resume(approval_id: str) -> str:
    """Job: hand a decided request to its agent and take the run further."""
    outcome = services().runtime.resume(approval_id)
    log.info("resume of approval %s: %s", approval_id, outcome)
    metrics.RESUMES.labels(outcome).inc()
    return outcome


def fire_due() -> list[str]:
    """Job: apply every deadline, escalation and reminder that fell due."""
    return services().deadlines.fire_due()
