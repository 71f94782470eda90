"""A bare `interrupt(value)`: shown as the tool calls it proposes, or as it is, and answered in the
agent's resume protocol (`worker.protocols`), declared or recognised, failing closed when neither."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from approvals.models import ApprovalRequest, DecisionType, ProposedAction
from worker.pauses import Pause, Resumed, jsonable, proposed_calls, resume_with
from worker.protocols import BUILT_IN, ResumeProtocol, protocol_for, resolve

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from worker.graph_session import GraphSession
    from worker.registry import Agent

RESPOND = DecisionType.RESPOND

_PROMPT_KEYS = ("question", "message", "description", "prompt")


class InterruptValue:
    """A bare `interrupt(value)` in a node or tool, any JSON: answered in the agent's resume protocol.

    Tool calls in the value get a section each (with Edit where the protocol can carry an edit);
    anything else is shown as it is."""

    kind = "interrupt"

    def matches(self, pause: Pause) -> bool:
        return pause.breakpoint_node is None and not pause.ran

    def to_actions(self, pause: Pause, agent: Agent) -> tuple[str, list[ProposedAction]]:
        value = pause.value
        protocol = protocol_for(value, agent.resume)
        prompt = next((str(value[k]) for k in _PROMPT_KEYS if isinstance(value, Mapping) and isinstance(value.get(k), str)), "")
        calls = [] if protocol.name == "text" else proposed_calls(value)
        if protocol.name == "text" and not isinstance(value, Mapping):
            # A question asked as a bare string (`interrupt("What is the ticket number?")`).
            actions = [ProposedAction(tool="interrupt", args={"question": str(value)}, allowed_decisions=[RESPOND])]
        elif calls:
            allowed = protocol.decisions(calls=True)
            actions = [
                ProposedAction(
                    tool=call["name"],
                    args=jsonable(call.get("args") or {}),
                    description=prompt,
                    allowed_decisions=allowed,
                    args_schema=agent.tool_schemas.get(call["name"]),
                    call_id=str(call["id"]) if call.get("id") else None,
                )
                for call in calls
            ]
        else:
            args = jsonable(value) if isinstance(value, Mapping) else {"value": jsonable(value)}
            actions = [
                ProposedAction(tool="interrupt", args=args, description=prompt, allowed_decisions=protocol.decisions(calls=False))
            ]
        return f"{self.kind}:{protocol.name}", actions

    @staticmethod
    def protocol(approval: ApprovalRequest, agent: Agent) -> ResumeProtocol:
        """The protocol the request was posted with (kind `interrupt:<name>`; plain `interrupt` before protocols)."""
        name = approval.kind.partition(":")[2] or "typed"
        declared = agent.resume
        choices = list(declared.values()) if isinstance(declared, Mapping) else [declared]
        declares = [resolve(choice) for choice in choices if choice is not None]
        if name == "string" and all(protocol.name != "string" for protocol in declares):
            # Recognised as "string" when it was posted, which the tutorial's `tool_executor_with_edits` reads
            # "reject" of as a yes: answered as that shape is now, so no Reject resumes it.
            return BUILT_IN["approve_or_stop"]
        if name in BUILT_IN:
            return BUILT_IN[name]
        for protocol in declares:
            if protocol.name == name:
                return protocol
        raise ValueError(f"agent {agent.name!r} no longer declares the resume protocol {name!r}")

    def acts_in_node(self, approval: ApprovalRequest) -> bool:
        return True

    def resume(self, graph: GraphSession, config: RunnableConfig, approval: ApprovalRequest, agent: Agent) -> Resumed:
        value = self.protocol(approval, agent).answer(approval)
        if value is None:
            return Resumed.STOPPED
        return resume_with(graph, config, approval, value)
