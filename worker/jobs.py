"""The RQ jobs, enqueued by dotted name (see `countersign.job_queue`).

They use the `AgentRuntime` the worker's parent process built and preloaded (`install`), so a
forked job pays no import or set-up cost; run under a plain `rq worker`, they build it on first use.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any

from rq.job import Job

from countersign.job_queue import RunRequest
from worker.runtime import AgentRuntime

log = logging.getLogger(__name__)

_runtime: AgentRuntime | None = None


def install(runtime: AgentRuntime) -> None:
    """Make `runtime` the one every job in this process (and its forks) uses."""
    global _runtime
    _runtime = runtime


def runtime() -> AgentRuntime:
    """The installed runtime, built from the environment if the worker did not preload one."""
    if _runtime is None:
        from worker.main import build_runtime

        install(build_runtime())
    assert _runtime is not None
    return _runtime


def start_run(payload: dict[str, Any]) -> str:
    """Job: run an agent until it ends or interrupts."""
    return runtime().start(RunRequest.model_validate(payload))


def resume_run(approval_id: str) -> str:
    """Job: resume a run with the decision recorded on an approval request."""
    return runtime().resume(approval_id)


def fire_deadlines() -> list[str]:
    """Job: apply every deadline that fell due (reject, approve or escalate)."""
    return runtime().fire_deadlines()


def remind(approval_id: str, stage: int) -> None:
    """Job: remind the approvers of a request still waiting before its deadline."""
    runtime().remind(approval_id, stage)


def report_failure(
    job: Job, connection: Any, exc_type: type[BaseException], exc_value: BaseException, tb: TracebackType
) -> None:
    """Failure callback: once retries are used up, say in Slack what went wrong."""
    if job.retries_left:
        log.warning("job %s failed (%s: %s); RQ will retry it", job.id, exc_type.__name__, exc_value)
        return
    payload = job.args[0] if job.args else None
    if job.func_name.endswith("start_run") and isinstance(payload, dict):
        thread_id = payload.get("thread_id")
    elif job.func_name.endswith("resume_run"):
        try:
            thread_id = runtime().store.get(str(payload)).thread_id
        except Exception:  # the failure may be that very lookup
            log.exception("job %s failed and its run cannot be found", job.id)
            return
    else:
        # Deadlines and reminders: what they change lives in SQL; the next wake-up or worker start applies it.
        log.error("job %s failed for good: %s: %s", job.id, exc_type.__name__, exc_value)
        return
    runtime().report_failure(str(thread_id), f"{exc_type.__name__}: {exc_value}")
