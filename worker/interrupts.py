"""Interrupt adapters: each way a LangGraph run can pause becomes proposed actions, and the decisions
become the resume that kind of pause expects.

An adapter is one small class implementing `InterruptAdapter` (`worker.pauses`); `ADAPTERS` lists them
in the order they are tried. Library shapes (LangChain's HITL middleware, Agent Inbox, `ask_human`) are
recognised by their keys (`worker.library_interrupts`); static breakpoints are read from state
(`worker.breakpoints`); a bare `interrupt(value)` is answered in the agent's resume protocol
(`worker.interrupt_values`, `worker.protocols`), declared or recognised, failing closed when neither.
This module picks the adapter and re-exports the names the runtime and the tests use.
"""

from __future__ import annotations

from worker.breakpoints import AfterNode, StaticBreakpoint, after_pause, produced
from worker.interrupt_values import InterruptValue
from worker.library_interrupts import AgentInbox, AskHuman, HumanInTheLoopBatched, HumanInTheLoopPerCall
from worker.pauses import (
    InterruptAdapter,
    Pause,
    Resumed,
    jsonable,
    langgraph_interrupt_id,
    pause_key,
    pause_refusal,
    proposed_calls,
    repeated_ids_refusal,
)

__all__ = [
    "ADAPTERS",
    "AfterNode",
    "AgentInbox",
    "AskHuman",
    "HumanInTheLoopBatched",
    "HumanInTheLoopPerCall",
    "InterruptAdapter",
    "InterruptValue",
    "Pause",
    "Resumed",
    "StaticBreakpoint",
    "adapter_for",
    "adapter_for_kind",
    "after_pause",
    "jsonable",
    "langgraph_interrupt_id",
    "pause_key",
    "pause_refusal",
    "produced",
    "proposed_calls",
    "repeated_ids_refusal",
]


ADAPTERS: list[InterruptAdapter] = [
    AfterNode(),
    StaticBreakpoint(),
    HumanInTheLoopBatched(),
    HumanInTheLoopPerCall(),
    AgentInbox(),
    AskHuman(),
    InterruptValue(),
]


def adapter_for(pause: Pause) -> InterruptAdapter:
    """The first adapter that understands a pause (a bare interrupt always matches last)."""
    return next(adapter for adapter in ADAPTERS if adapter.matches(pause))


def adapter_for_kind(kind: str) -> InterruptAdapter:
    """The adapter that produced a stored request (its kind, before any `:protocol` part)."""
    base = kind.partition(":")[0]
    for adapter in ADAPTERS:
        if adapter.kind == base:
            return adapter
    raise ValueError(f"unknown interrupt kind {kind!r}")
