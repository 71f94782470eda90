"""Adapters for the pauses libraries define, recognised by their keys: LangChain's
`HumanInTheLoopMiddleware` (batched and per call), LangGraph's Agent Inbox `HumanInterrupt`, and
Countersign's own `ask_human` tool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from approvals.models import ApprovalRequest, DecisionType, ProposedAction
from worker.pauses import Pause, Resumed, decision_of, jsonable, resume_with
from worker.protocols import TypedDecisions

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from worker.graph_session import GraphSession
    from worker.registry import Agent

APPROVE, EDIT, REJECT, RESPOND = DecisionType.APPROVE, DecisionType.EDIT, DecisionType.REJECT, DecisionType.RESPOND
# The kind's suffix for a pause of Countersign's own gate, which LangChain's HITL payload carries.
COUNTERSIGN_GATE = "countersign"


class HumanInTheLoopBatched:
    """LangChain v1 `HumanInTheLoopMiddleware` (batched): `action_requests` + `review_configs`."""

    kind = "langchain_hitl"

    def matches(self, pause: Pause) -> bool:
        value = pause.value
        return isinstance(value, dict) and "action_requests" in value and "review_configs" in value

    def to_actions(self, pause: Pause, agent: Agent) -> tuple[str, list[ProposedAction]]:
        configs = {c["action_name"]: c for c in pause.value["review_configs"]}
        # Countersign's own gate (its `countersign` key) also reads an approver's note (`worker.gate`).
        kind = f"{self.kind}:{COUNTERSIGN_GATE}" if isinstance(pause.value.get("countersign"), dict) else self.kind
        return kind, [
            ProposedAction(
                tool=request["name"],
                args=jsonable(request.get("args") or {}),
                description=request.get("description") or "",
                allowed_decisions=configs.get(request["name"], {}).get("allowed_decisions") or [APPROVE, EDIT, REJECT],
                args_schema=configs.get(request["name"], {}).get("args_schema") or agent.tool_schemas.get(request["name"]),
                # Countersign's own gate adds the result when it asks for a review after the call ran.
                result=request.get("result"),
            )
            for request in pause.value["action_requests"]
        ]

    def resume(self, graph: GraphSession, config: RunnableConfig, approval: ApprovalRequest, agent: Agent) -> Resumed:
        with_note = approval.kind.endswith(f":{COUNTERSIGN_GATE}")
        return resume_with(graph, config, approval, {"decisions": [TypedDecisions.one(a, with_note) for a in approval.actions]})

    def acts_in_node(self, approval: ApprovalRequest) -> bool:
        # LangChain's HITL answers are carried out by the ToolNode, whose calls are journalled.
        return False


def _allowed_by_schema(schema: dict[str, Any] | None) -> list[str]:
    """The decision types a per-call interrupt's `response_schema` accepts (LangChain publishes it)."""
    if not schema:
        return []
    mapping = (schema.get("discriminator") or {}).get("mapping")
    if mapping:
        return list(mapping)
    const = ((schema.get("properties") or {}).get("type") or {}).get("const")
    return [const] if const else []


class HumanInTheLoopPerCall:
    """LangChain v1 `HumanInTheLoopMiddleware(interrupt_mode="per_call")`: one `tool_approval` per call."""

    kind = "langchain_tool_approval"

    def matches(self, pause: Pause) -> bool:
        return isinstance(pause.value, dict) and pause.value.get("type") == "tool_approval" and "name" in pause.value

    def to_actions(self, pause: Pause, agent: Agent) -> tuple[str, list[ProposedAction]]:
        value = pause.value
        allowed = _allowed_by_schema(pause.response_schema)
        return self.kind, [
            ProposedAction(
                tool=value["name"],
                args=jsonable(value.get("args") or {}),
                description=value.get("description") or "",
                args_schema=agent.tool_schemas.get(value["name"]),
                **({"allowed_decisions": allowed} if allowed else {}),
            )
        ]

    def resume(self, graph: GraphSession, config: RunnableConfig, approval: ApprovalRequest, agent: Agent) -> Resumed:
        return resume_with(graph, config, approval, TypedDecisions.one(approval.action))

    def acts_in_node(self, approval: ApprovalRequest) -> bool:
        return False


class AgentInbox:
    """LangGraph's Agent Inbox `HumanInterrupt` (a list of them, or one): accept / edit / response / ignore."""

    kind = "agent_inbox"
    _ALLOWED: ClassVar[dict[str, DecisionType]] = {
        "allow_accept": APPROVE,
        "allow_edit": EDIT,
        "allow_respond": RESPOND,
        "allow_ignore": REJECT,
    }

    @staticmethod
    def _items(value: Any) -> list[Any]:
        return value if isinstance(value, list) else [value]

    def matches(self, pause: Pause) -> bool:
        items = self._items(pause.value)
        return bool(items) and all(isinstance(i, dict) and "action_request" in i and "config" in i for i in items)

    def to_actions(self, pause: Pause, agent: Agent) -> tuple[str, list[ProposedAction]]:
        actions = []
        for item in self._items(pause.value):
            request, config = item["action_request"], item["config"]
            actions.append(
                ProposedAction(
                    tool=request["action"],
                    args=jsonable(request.get("args") or {}),
                    description=item.get("description") or "",
                    allowed_decisions=[d for flag, d in self._ALLOWED.items() if config.get(flag)],
                    args_schema=agent.tool_schemas.get(request["action"]),
                )
            )
        # A single HumanInterrupt (not in a list) is answered with a single HumanResponse.
        return (self.kind if isinstance(pause.value, list) else f"{self.kind}:single"), actions

    def acts_in_node(self, approval: ApprovalRequest) -> bool:
        return True

    def resume(self, graph: GraphSession, config: RunnableConfig, approval: ApprovalRequest, agent: Agent) -> Resumed:
        responses: list[dict[str, Any]] = []
        for action in approval.actions:
            decision = decision_of(action)
            if decision.type is EDIT:
                responses.append({"type": "edit", "args": {"action": action.tool, "args": decision.edited_args or {}}})
            elif decision.type is RESPOND:
                responses.append({"type": "response", "args": decision.message or ""})
            elif decision.type is REJECT:
                responses.append({"type": "ignore", "args": None})
            else:
                responses.append({"type": "accept", "args": None})
        return resume_with(graph, config, approval, responses if approval.kind == self.kind else responses[0])


class AskHuman:
    """Countersign's `ask_human(question)` tool: the answer typed in Slack is the tool's result."""

    kind = "ask_human"

    def matches(self, pause: Pause) -> bool:
        return isinstance(pause.value, dict) and pause.value.get("type") == "ask_human" and "question" in pause.value

    def to_actions(self, pause: Pause, agent: Agent) -> tuple[str, list[ProposedAction]]:
        return self.kind, [
            ProposedAction(tool="ask_human", args={"question": str(pause.value["question"])}, allowed_decisions=[RESPOND])
        ]

    def resume(self, graph: GraphSession, config: RunnableConfig, approval: ApprovalRequest, agent: Agent) -> Resumed:
        return resume_with(graph, config, approval, decision_of(approval.action).message or "")

    def acts_in_node(self, approval: ApprovalRequest) -> bool:
        return False
