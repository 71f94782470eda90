"""What a pause is: where a LangGraph run stopped (`Pause`), what answering it did (`Resumed`), the
`InterruptAdapter` contract each kind of pause implements, and the helpers the adapters share (the key
naming one `interrupt()` call, the tool calls a value proposes, the refusal of calls sharing an id, the
resume command)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from langgraph.types import Command

from approvals.models import ApprovalRequest, Decision, ProposedAction

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from worker.graph_session import GraphSession
    from worker.registry import Agent


def pause_key(interrupt_id: str, value: Any) -> str:
    """What names one `interrupt()` call: LangGraph's id, which every interrupt of one task shares (a node
    that asks twice asks under one id), plus a digest of the value asked."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{interrupt_id}:{digest}"


def langgraph_interrupt_id(key: str) -> str:
    """LangGraph's interrupt id in a pause key (a request stored before keys had digests holds it bare)."""
    return key.split(":", 1)[0]


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it (what the store keeps and Slack shows); anything else becomes its text."""
    return json.loads(json.dumps(value, default=str))


@dataclass(frozen=True)
class Pause:
    """Where a run stopped: an `interrupt()` (its key, value and LangGraph id), or a static breakpoint."""

    id: str
    value: Any
    response_schema: dict[str, Any] | None = None
    # Static breakpoints (`interrupt_before=[node]`) raise no interrupt: the graph simply stops.
    breakpoint_node: str | None = None
    interrupt_id: str | None = None
    # For a breakpoint before a node that proposes no tool calls: what that node will act on.
    state: Any = None
    # Static breakpoints after nodes (`interrupt_after=[node]`): the nodes that ran, with what each wrote.
    ran: tuple[tuple[str, Any], ...] = ()


class Resumed(StrEnum):
    """What handing the decisions over did."""

    RESUMED = "resumed"  # the graph carries on with the answer
    SKIPPED = "skipped"  # a breakpoint's node was rejected: it did not run, the graph carries on after it
    STOPPED = "stopped"  # nothing the agent reads can say no: the run stops, not resumed


class InterruptAdapter(Protocol):
    """Translates one kind of pause both ways."""

    kind: str

    def matches(self, pause: Pause) -> bool:
        """True when this adapter understands the pause."""
        ...

    def to_actions(self, pause: Pause, agent: Agent) -> tuple[str, list[ProposedAction]]:
        """The kind to store (it says how to resume) and the proposed actions to show approvers."""
        ...

    def resume(self, graph: GraphSession, config: RunnableConfig, approval: ApprovalRequest, agent: Agent) -> Resumed:
        """Continue the run with the approval's decisions, the way this kind of pause expects."""
        ...

    def acts_in_node(self, approval: ApprovalRequest) -> bool:
        """True when the node that paused itself acts on the answer (rather than a journalled ToolNode),
        so an answer handed over by a worker that then died may already have been acted on."""
        ...


def decision_of(action: ProposedAction) -> Decision:
    """The decision recorded on a proposed action (raises when it has none yet)."""
    if action.decision is None:
        raise ValueError(f"`{action.tool}` has no decision yet")
    return action.decision


def resume_with(graph: GraphSession, config: RunnableConfig, approval: ApprovalRequest, value: Any) -> Resumed:
    """Resume the interrupt the approval answers with `value`."""
    graph.invoke(Command(resume={langgraph_interrupt_id(approval.interrupt_id): value}), config)
    return Resumed.RESUMED


def proposed_calls(value: Any) -> list[dict[str, Any]]:
    """The tool calls a value proposes (`tool_calls: [...]` or `tool_call: {...}` of name and args)."""
    if not isinstance(value, Mapping):
        return []
    calls = value.get("tool_calls")
    if calls is None and isinstance(value.get("tool_call"), Mapping):
        calls = [value["tool_call"]]
    if not isinstance(calls, list):
        return []
    return [dict(c) for c in calls if isinstance(c, Mapping) and isinstance(c.get("name"), str)]


def repeated_ids_refusal(calls: list[dict[str, Any]]) -> str | None:
    """What the agent reads for each of these calls when some of them share a tool-call id; None when every id
    is its own. Decisions and the tool journal go by call id, so such calls cannot be told apart: none may be
    decided or run."""
    ids = [str(call["id"]) for call in calls if call.get("id")]
    repeated = sorted({call_id for call_id in ids if ids.count(call_id) > 1})
    if not repeated:
        return None
    named = ", ".join(f"`{call_id}`" for call_id in repeated)
    sharing = sum(1 for call_id in ids if call_id in repeated)
    return (
        f"Not run: {sharing} of your tool calls had the same id ({named}), so none of the calls you proposed ran: "
        "a decision on one could not be told from a decision on another. Propose them again, each with an id of its own."
    )


def pause_refusal(pause: Pause) -> str | None:
    """`repeated_ids_refusal` of the calls a pause proposes: a breakpoint's, read from the model's message, or
    those an interrupt's value carries (`tool_calls`)."""
    if pause.ran:
        return None
    if pause.breakpoint_node is not None:
        return repeated_ids_refusal([dict(call) for call in pause.value or []])
    return repeated_ids_refusal(proposed_calls(pause.value))
