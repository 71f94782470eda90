"""What agent authors use, in one module: declare an agent (`agent`), gate its tool calls (the gates),
give it Slack as a tool (`ask_human`), read a tool call's idempotency key (`idempotency_key`) and start runs from
code (`start_run`, `RunRequest`).

    from countersign.agents import agent, interrupt_before_when, start_run, RunRequest

Each name is imported when first used, so importing this module loads neither LangGraph nor LangChain
(the bot imports it at no cost). The same objects stay importable from their homes (`worker.registry`,
`worker.gate`, `worker.tools`, `approvals.runs`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from approvals.runs import RunRequest, StartedRun, start_run
    from worker.gate import (
        CountersignGate,
        gated_tool_node,
        interrupt_after,
        interrupt_before,
        interrupt_before_when,
        review_node,
    )
    from worker.in_doubt import idempotency_key
    from worker.registry import AgentSpec, agent
    from worker.tools import ask_human

_HOMES = {
    "agent": "worker.registry",
    "AgentSpec": "worker.registry",
    "CountersignGate": "worker.gate",
    "gated_tool_node": "worker.gate",
    "interrupt_after": "worker.gate",
    "interrupt_before": "worker.gate",
    "interrupt_before_when": "worker.gate",
    "review_node": "worker.gate",
    "ask_human": "worker.tools",
    "idempotency_key": "worker.in_doubt",
    "RunRequest": "approvals.runs",
    "StartedRun": "approvals.runs",
    "start_run": "approvals.runs",
}

__all__ = [
    "AgentSpec",
    "CountersignGate",
    "RunRequest",
    "StartedRun",
    "agent",
    "ask_human",
    "gated_tool_node",
    "idempotency_key",
    "interrupt_after",
    "interrupt_before",
    "interrupt_before_when",
    "review_node",
    "start_run",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
