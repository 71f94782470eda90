"""Reading a thread's state: where its run paused, and what the agent said."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langgraph.types import StateSnapshot

from worker.graph_session import GraphSession
from worker.interrupts import Pause, after_pause, pause_key
from worker.registry import AnyGraph


def pauses(graph: AnyGraph | GraphSession, state: StateSnapshot) -> list[Pause]:
    """Where a run stopped: its pending interrupts, or a static breakpoint after or before a node. Empty when
    it finished, or when a crashed attempt left it half-way (then `invoke(None)` carries on)."""
    if state.interrupts:
        return [
            Pause(pause_key(i.id, i.value), i.value, getattr(i, "response_schema", None), interrupt_id=i.id)
            for i in state.interrupts
        ]
    stopped_after = after_pause(graph, state)
    if stopped_after is not None:
        return [stopped_after]
    before = graph.interrupt_before_nodes
    if state.next and (before == "*" or state.next[0] in before):
        message = next((m for m in reversed(state_messages(state.values)) if isinstance(m, AIMessage)), None)
        calls = [dict(call) for call in message.tool_calls] if message is not None else []
        # The checkpoint id names this stop: after a resume the thread has moved on to another.
        return [Pause(state.config["configurable"]["checkpoint_id"], calls, breakpoint_node=state.next[0], state=state.values)]
    return []


def state_messages(values: Any) -> list[BaseMessage]:
    """The messages in a thread's state (none when it keeps no `messages`)."""
    return values.get("messages", []) if isinstance(values, dict) else []


def latest_agent_message(values: Any) -> str:
    """The text of the agent's latest message (its reasoning before the call), if the state has one."""
    for message in reversed(state_messages(values)):
        if isinstance(message, AIMessage):
            return message.text if hasattr(message, "text") else str(message.content)
    return ""
