"""Interrupt adapters: each way a LangGraph run can pause becomes proposed actions, and the decisions
become the resume that kind of pause expects.

An adapter is one small class implementing `InterruptAdapter`; `ADAPTERS` lists them in the order
they are tried, the catch-all for a bare `interrupt(value)` last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.pregel import Pregel
from langgraph.types import Command

from approvals.models import ApprovalRequest, DecisionType, ProposedAction

APPROVE, EDIT, REJECT, RESPOND = DecisionType.APPROVE, DecisionType.EDIT, DecisionType.REJECT, DecisionType.RESPOND


@dataclass(frozen=True)
class Pause:
    """Where a run stopped: an `interrupt()` (id and value), or a static breakpoint before a node."""

    id: str
    value: Any
    response_schema: dict[str, Any] | None = None
    # Static breakpoints (`interrupt_before=[node]`) raise no interrupt: the graph simply stops.
    breakpoint_node: str | None = None


class InterruptAdapter(Protocol):
    """Translates one kind of pause both ways."""

    kind: str

    def matches(self, pause: Pause) -> bool:
        """True when this adapter understands the pause."""
        ...

    def to_actions(self, pause: Pause, tool_schemas: dict[str, dict[str, Any]]) -> list[ProposedAction]:
        """The proposed actions to show approvers."""
        ...

    def resume(self, graph: Pregel, config: dict[str, Any], approval: ApprovalRequest) -> None:
        """Continue the run with the approval's decisions, the way this kind of pause expects."""
        ...


def _decision(action: ProposedAction) -> Any:
    if action.decision is None:
        raise ValueError(f"`{action.tool}` has no decision yet")
    return action.decision


class _ResumeWithValue:
    """Adapters whose pause is an `interrupt()` answered by `Command(resume=...)`."""

    def to_resume(self, approval: ApprovalRequest) -> Any:
        raise NotImplementedError

    def resume(self, graph: Pregel, config: dict[str, Any], approval: ApprovalRequest) -> None:
        graph.invoke(Command(resume={approval.interrupt_id: self.to_resume(approval)}), config)


def langchain_decision(action: ProposedAction) -> dict[str, Any]:
    """One action's decision in LangChain's HITL shape (also the answer to a bare interrupt)."""
    decision = _decision(action)
    if decision.type is EDIT:
        return {"type": "edit", "edited_action": {"name": action.tool, "args": decision.edited_args or {}}}
    if decision.type in (REJECT, RESPOND):
        return {"type": decision.type.value, "message": decision.message or ""}
    return {"type": "approve"}


class HumanInTheLoopBatched(_ResumeWithValue):
    """LangChain v1 `HumanInTheLoopMiddleware` (batched): `action_requests` + `review_configs`."""

    kind = "langchain_hitl"

    def matches(self, pause: Pause) -> bool:
        value = pause.value
        return isinstance(value, dict) and "action_requests" in value and "review_configs" in value

    def to_actions(self, pause: Pause, tool_schemas: dict[str, dict[str, Any]]) -> list[ProposedAction]:
        configs = {c["action_name"]: c for c in pause.value["review_configs"]}
        return [
            ProposedAction(
                tool=request["name"],
                args=request.get("args") or {},
                description=request.get("description") or "",
                allowed_decisions=configs.get(request["name"], {}).get("allowed_decisions") or [APPROVE, EDIT, REJECT],
                args_schema=configs.get(request["name"], {}).get("args_schema") or tool_schemas.get(request["name"]),
                # Countersign's own gate adds the result when it asks for a review after the call ran.
                result=request.get("result"),
            )
            for request in pause.value["action_requests"]
        ]

    def to_resume(self, approval: ApprovalRequest) -> Any:
        return {"decisions": [langchain_decision(action) for action in approval.actions]}


def _allowed_by_schema(schema: dict[str, Any] | None) -> list[str]:
    """The decision types a per-call interrupt's `response_schema` accepts (LangChain publishes it)."""
    if not schema:
        return []
    mapping = (schema.get("discriminator") or {}).get("mapping")
    if mapping:
        return list(mapping)
    const = ((schema.get("properties") or {}).get("type") or {}).get("const")
    return [const] if const else []


class HumanInTheLoopPerCall(_ResumeWithValue):
    """LangChain v1 `HumanInTheLoopMiddleware(interrupt_mode="per_call")`: one `tool_approval` per call."""

    kind = "langchain_tool_approval"

    def matches(self, pause: Pause) -> bool:
        return isinstance(pause.value, dict) and pause.value.get("type") == "tool_approval" and "name" in pause.value

    def to_actions(self, pause: Pause, tool_schemas: dict[str, dict[str, Any]]) -> list[ProposedAction]:
        value = pause.value
        allowed = _allowed_by_schema(pause.response_schema)
        return [
            ProposedAction(
                tool=value["name"],
                args=value.get("args") or {},
                description=value.get("description") or "",
                args_schema=tool_schemas.get(value["name"]),
                **({"allowed_decisions": allowed} if allowed else {}),
            )
        ]

    def to_resume(self, approval: ApprovalRequest) -> Any:
        return langchain_decision(approval.action)


class AgentInbox(_ResumeWithValue):
    """LangGraph's Agent Inbox `HumanInterrupt` list: accept / edit / response / ignore."""

    kind = "agent_inbox"
    _ALLOWED = {"allow_accept": APPROVE, "allow_edit": EDIT, "allow_respond": RESPOND, "allow_ignore": REJECT}

    def matches(self, pause: Pause) -> bool:
        value = pause.value
        return (
            isinstance(value, list)
            and bool(value)
            and all(isinstance(item, dict) and "action_request" in item and "config" in item for item in value)
        )

    def to_actions(self, pause: Pause, tool_schemas: dict[str, dict[str, Any]]) -> list[ProposedAction]:
        actions = []
        for item in pause.value:
            request, config = item["action_request"], item["config"]
            actions.append(
                ProposedAction(
                    tool=request["action"],
                    args=request.get("args") or {},
                    description=item.get("description") or "",
                    allowed_decisions=[d for flag, d in self._ALLOWED.items() if config.get(flag)],
                    args_schema=tool_schemas.get(request["action"]),
                )
            )
        return actions

    def to_resume(self, approval: ApprovalRequest) -> Any:
        responses = []
        for action in approval.actions:
            decision = _decision(action)
            if decision.type is EDIT:
                responses.append({"type": "edit", "args": {"action": action.tool, "args": decision.edited_args or {}}})
            elif decision.type is RESPOND:
                responses.append({"type": "response", "args": decision.message or ""})
            elif decision.type is REJECT:
                responses.append({"type": "ignore", "args": None})
            else:
                responses.append({"type": "accept", "args": None})
        return responses


class StaticBreakpoint:
    """A graph compiled or invoked with `interrupt_before=[node]`: the proposed tool calls are read from
    state; edits and rejections go in with `update_state`, and `invoke(None)` carries on."""

    kind = "breakpoint"

    def matches(self, pause: Pause) -> bool:
        return pause.breakpoint_node is not None

    def to_actions(self, pause: Pause, tool_schemas: dict[str, dict[str, Any]]) -> list[ProposedAction]:
        calls = pause.value or [{"name": pause.breakpoint_node, "args": {}}]
        return [
            ProposedAction(
                tool=call["name"],
                args=call.get("args") or {},
                description=f"Paused before `{pause.breakpoint_node}`.",
                allowed_decisions=[APPROVE, EDIT, REJECT] if call.get("id") else [APPROVE, REJECT],
                args_schema=tool_schemas.get(call["name"]),
            )
            for call in calls
        ]

    def resume(self, graph: Pregel, config: dict[str, Any], approval: ApprovalRequest) -> None:
        state = graph.get_state(config)
        message = _last_ai_message(state.values)
        if message is None or not message.tool_calls:
            if any(_decision(action).type is REJECT for action in approval.actions):
                return  # nothing to run and the human said no: the run stays where it is
            graph.invoke(None, config)
            return
        kept, refused = [], []
        for call, action in zip(message.tool_calls, approval.actions, strict=True):
            decision = _decision(action)
            if decision.type is EDIT:
                kept.append({**call, "args": decision.edited_args or {}})
            elif decision.type in (REJECT, RESPOND):
                refused.append((call, decision.message or "Rejected by a human reviewer."))
            else:
                kept.append(call)
        if not kept:
            # Answer every call as if the node had run, so the agent reads why and nothing executes.
            answers = [
                ToolMessage(content=f"Not run: {reason}", tool_call_id=call["id"], name=call["name"], status="error")
                for call, reason in refused
            ]
            graph.update_state(config, {"messages": answers}, as_node=state.next[0])
        else:
            # The same message id replaces the model's message: only the approved (or edited) calls run.
            graph.update_state(config, {"messages": [message.model_copy(update={"tool_calls": kept})]})
        graph.invoke(None, config)


def _last_ai_message(values: Any) -> AIMessage | None:
    messages = values.get("messages", []) if isinstance(values, dict) else []
    return next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)


class AskHuman(_ResumeWithValue):
    """Countersign's `ask_human(question)` tool: the answer typed in Slack is the tool's result."""

    kind = "ask_human"

    def matches(self, pause: Pause) -> bool:
        return isinstance(pause.value, dict) and pause.value.get("type") == "ask_human" and "question" in pause.value

    def to_actions(self, pause: Pause, tool_schemas: dict[str, dict[str, Any]]) -> list[ProposedAction]:
        return [
            ProposedAction(
                tool="ask_human", args={"question": pause.value["question"]}, allowed_decisions=[RESPOND]
            )
        ]

    def to_resume(self, approval: ApprovalRequest) -> Any:
        return _decision(approval.action).message or ""


class BareInterrupt(_ResumeWithValue):
    """A plain `interrupt(value)` in a node or tool, any JSON value: Approve, Reject, or a typed reply.

    The node receives LangChain's decision shape: `{"type": "approve"}`,
    `{"type": "reject", "message": reason}` or `{"type": "respond", "message": reply}`.
    """

    kind = "interrupt"

    def matches(self, pause: Pause) -> bool:
        return pause.breakpoint_node is None

    def to_actions(self, pause: Pause, tool_schemas: dict[str, dict[str, Any]]) -> list[ProposedAction]:
        value = pause.value
        args = value if isinstance(value, dict) else {"value": value}
        return [ProposedAction(tool="interrupt", args=args, allowed_decisions=[APPROVE, REJECT, RESPOND])]

    def to_resume(self, approval: ApprovalRequest) -> Any:
        return langchain_decision(approval.action)


ADAPTERS: list[InterruptAdapter] = [
    StaticBreakpoint(),
    HumanInTheLoopBatched(),
    HumanInTheLoopPerCall(),
    AgentInbox(),
    AskHuman(),
    BareInterrupt(),
]


def adapter_for(pause: Pause) -> InterruptAdapter:
    """The first adapter that understands a pause (a bare interrupt always matches last)."""
    return next(adapter for adapter in ADAPTERS if adapter.matches(pause))


def adapter_for_kind(kind: str) -> InterruptAdapter:
    """The adapter that produced a stored request."""
    for adapter in ADAPTERS:
        if adapter.kind == kind:
            return adapter
    raise ValueError(f"unknown interrupt kind {kind!r}")
