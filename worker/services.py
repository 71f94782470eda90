"""What the RQ jobs (`worker.jobs`) use: the agent runtime and the deadline service, built once per
worker process and installed here before its job processes fork, so a job pays no import or set-up cost.

Under a plain `rq worker` (with `--serializer rq.serializers.JSONSerializer`, as jobs are JSON) nothing
installed them: the first job builds them from the environment (`countersign.wiring.build_services`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worker.deadlines import DeadlineService
    from worker.runtime import AgentRuntime


@dataclass(frozen=True)
class Services:
    """What jobs use: the agent runtime and the deadline service."""

    runtime: AgentRuntime
    deadlines: DeadlineService


_installed: Services | None = None


def install(services: Services) -> None:
    """Make `services` the ones every job in this process (and its forks) uses."""
    global _installed
    _installed = services


def installed() -> Services:
    """The installed services, built from the environment if the worker did not preload them."""
    if _installed is None:
        from countersign.wiring import build_services  # builds them; imports nothing of the jobs

        install(build_services())
    assert _installed is not None
    return _installed


def retire() -> None:
    """Close what this process kept open across its jobs (its checkpointer's connection), as it exits."""
    if _installed is not None:
        _installed.runtime.checkpointer.close()
