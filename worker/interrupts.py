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

from approvals.models import ApprovalRequest
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
    "why_stopped",
]


def why_stopped(approval: ApprovalRequest) -> str:
    """What the thread is told, beyond who said no, when a decision stopped the run instead of resuming it."""
    if approval.kind == "interrupt:approve_or_stop":
        return (
            " Its executors read a rejection in different ways (LangGraph's `tool_executor_with_edits` runs the call "
            'on `"reject"`), so it was not resumed. Declare `agent(graph, resume={"tool_approval_request": "action"})` '
            "in the agent registry to have it told, and rerouted, instead."
        )
    if approval.kind == "interrupt:text":
        return " Nobody answered its question, and Countersign does not make up an answer."
    if approval.kind == AfterNode.kind:
        return " What the reviewed step produced is kept; no step after it ran."
    return ""


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
