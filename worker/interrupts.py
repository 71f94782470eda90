"""Interrupt adapters: each kind of LangGraph interrupt becomes proposed actions, and a decision its resume value.

An adapter is one small class implementing `InterruptAdapter`; `ADAPTERS` lists them in the
order they are tried.
"""

from __future__ import annotations

from typing import Any, Protocol

from approvals.models import ApprovalRequest, DecisionType, ProposedAction


class InterruptAdapter(Protocol):
    """Translates one kind of interrupt value both ways."""

    kind: str

    def matches(self, value: Any) -> bool:
        """True when this adapter understands the interrupt value."""
        ...

    def to_actions(
        self, value: Any, tool_schemas: dict[str, dict[str, Any]], response_schema: dict[str, Any] | None
    ) -> list[ProposedAction]:
        """The proposed actions to show approvers (`response_schema`: the interrupt's, if it has one)."""
        ...

    def to_resume(self, approval: ApprovalRequest) -> Any:
        """The resume value the interrupting node expects for the recorded decision."""
        ...


def _langchain_decision(action: ProposedAction) -> dict[str, Any]:
    """One action's decision in LangChain's HITL shape."""
    decision = action.decision
    if decision is None:
        raise ValueError(f"`{action.tool}` has no decision yet")
    tool = action.tool
    if decision.type is DecisionType.EDIT:
        return {"type": "edit", "edited_action": {"name": tool, "args": decision.edited_args or {}}}
    if decision.type in (DecisionType.REJECT, DecisionType.RESPOND):
        return {"type": decision.type.value, "message": decision.message or ""}
    return {"type": "approve"}


class HumanInTheLoopBatched:
    """LangChain v1 `HumanInTheLoopMiddleware` (batched): `action_requests` + `review_configs`."""

    kind = "langchain_hitl"

    def matches(self, value: Any) -> bool:
        return isinstance(value, dict) and "action_requests" in value and "review_configs" in value

    def to_actions(
        self, value: Any, tool_schemas: dict[str, dict[str, Any]], response_schema: dict[str, Any] | None
    ) -> list[ProposedAction]:
        configs = {c["action_name"]: c for c in value["review_configs"]}
        actions = []
        for request in value["action_requests"]:
            config = configs.get(request["name"], {})
            actions.append(
                ProposedAction(
                    tool=request["name"],
                    args=request.get("args") or {},
                    description=request.get("description") or "",
                    allowed_decisions=config.get("allowed_decisions") or ["approve", "edit", "reject"],
                    args_schema=config.get("args_schema") or tool_schemas.get(request["name"]),
                )
            )
        return actions

    def to_resume(self, approval: ApprovalRequest) -> Any:
        return {"decisions": [_langchain_decision(action) for action in approval.actions]}


class HumanInTheLoopPerCall:
    """LangChain v1 `HumanInTheLoopMiddleware(interrupt_mode="per_call")`: one `tool_approval` per call."""

    kind = "langchain_tool_approval"

    def matches(self, value: Any) -> bool:
        return isinstance(value, dict) and value.get("type") == "tool_approval" and "name" in value

    def to_actions(
        self, value: Any, tool_schemas: dict[str, dict[str, Any]], response_schema: dict[str, Any] | None
    ) -> list[ProposedAction]:
        allowed = _allowed_by_schema(response_schema)
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
        return _langchain_decision(approval.action)


def _allowed_by_schema(schema: dict[str, Any] | None) -> list[str]:
    """The decision types a per-call interrupt's `response_schema` accepts (LangChain publishes it)."""
    if not schema:
        return []
    mapping = (schema.get("discriminator") or {}).get("mapping")
    if mapping:
        return list(mapping)
    const = ((schema.get("properties") or {}).get("type") or {}).get("const")
    return [const] if const else []


ADAPTERS: list[InterruptAdapter] = [HumanInTheLoopBatched(), HumanInTheLoopPerCall()]


def adapter_for_value(value: Any) -> InterruptAdapter:
    """The adapter that understands an interrupt value."""
    for adapter in ADAPTERS:
        if adapter.matches(value):
            return adapter
    raise ValueError(f"Countersign does not understand this interrupt value: {value!r:.200}")


def adapter_for_kind(kind: str) -> InterruptAdapter:
    """The adapter that produced a stored request."""
    for adapter in ADAPTERS:
        if adapter.kind == kind:
            return adapter
    raise ValueError(f"unknown interrupt kind {kind!r}")
