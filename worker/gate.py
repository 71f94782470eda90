"""Countersign's own gate: pause before chosen tool calls (always, or when a condition holds), or review
their results after they ran. For `create_agent` agents it is LangChain v1 middleware; for hand-built
graphs, `gated_tool_node` and `review_node` do the same around a ToolNode.

Its interrupts use LangChain's HITL payload (`action_requests` + `review_configs`, answered with
`{"decisions": [...]}`) plus a `countersign` key, so one rendering path in Slack serves all. Unlike LangChain's,
an approval before a call may carry the approver's note (`{"type": "approve", "message": ...}`), which the agent
reads after the tool's result.

    agent = create_agent(model, tools, middleware=[interrupt_before_when(tool="refund", when="amount >= 100")])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import AgentState
from langchain_core.messages import ToolMessage
from langgraph.prebuilt import ToolNode
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from approvals.expressions import Expression

Condition = Callable[[Mapping[str, Any]], bool] | str
_REVIEWED = "countersign_reviewed"
_BEFORE_DECISIONS = ["approve", "edit", "reject", "respond"]
_AFTER_DECISIONS = ["approve", "reject"]  # acknowledge, or flag with a note the agent reads


def _condition(when: Condition) -> Callable[[Mapping[str, Any]], bool]:
    if callable(when):
        return when
    expression = Expression(when)
    return expression.evaluate


class CountersignGate(AgentMiddleware):
    """Middleware that asks a human before (and/or reviews after) the tool calls it names."""

    def __init__(
        self,
        before: Sequence[str] = (),
        before_when: Mapping[str, Condition] | None = None,
        after: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.before = set(before)
        self.before_when = {tool: _condition(when) for tool, when in (before_when or {}).items()}
        self.after = set(after)

    @property
    def name(self) -> str:
        """Named for what it gates: LangChain refuses two middlewares of one name, and the name becomes
        graph node names kept in checkpoints, so it must not change between worker starts."""
        parts = [
            f"before={','.join(sorted(self.before))}" if self.before else "",
            f"when={','.join(sorted(self.before_when))}" if self.before_when else "",
            f"after={','.join(sorted(self.after))}" if self.after else "",
        ]
        return "CountersignGate(" + ";".join(part for part in parts if part) + ")"

    def _gated_before(self, tool: str, args: Mapping[str, Any]) -> bool:
        if tool in self.before:
            return True
        condition = self.before_when.get(tool)
        return bool(condition and condition(args))

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], ToolMessage | Command[Any]]) -> ToolMessage | Command[Any]:
        """Ask before a gated call runs; run it as decided (approved, edited, or answered instead)."""
        call = request.tool_call
        if not self._gated_before(call["name"], call["args"]):
            return handler(request)
        description = getattr(request.tool, "description", "") if request.tool is not None else ""
        answer = interrupt(
            {
                "action_requests": [{"name": call["name"], "args": call["args"], "description": description}],
                "review_configs": [{"action_name": call["name"], "allowed_decisions": _BEFORE_DECISIONS}],
                "countersign": {"stage": "before"},
            }
        )
        decision = answer["decisions"][0]
        if decision["type"] == "edit":
            edited = decision["edited_action"]["args"]
            return handler(request.override(tool_call={**call, "args": edited}))
        if decision["type"] in ("reject", "respond"):
            rejected = decision["type"] == "reject"
            content = (
                f"A human rejected this call to `{call['name']}`: {decision.get('message') or 'no reason given'}"
                if rejected
                else decision.get("message", "")
            )
            return ToolMessage(
                content=content, name=call["name"], tool_call_id=call["id"], status="error" if rejected else "success"
            )
        return _with_note(handler(request), decision.get("message"), "The person who approved this call noted")

    def before_model(self, state: AgentState, runtime: Runtime) -> dict[str, Any] | None:
        """Before the agent reads tool results, have a human review those of the `after` tools."""
        return review_results(state, self.after)


def review_results(state: Mapping[str, Any], tools: set[str]) -> dict[str, Any] | None:
    """Interrupt once for the not-yet-reviewed results of `tools`; flagged results carry the reviewer's note.

    Runs in a node of its own (or before the model), never in the tool's: on resume only this step
    re-runs, so the tool does not run twice.
    """
    results = [
        m
        for m in state.get("messages", [])
        if isinstance(m, ToolMessage) and m.name in tools and not m.additional_kwargs.get(_REVIEWED)
    ]
    if not results:
        return None
    calls = _calls_by_id(state)
    answer = interrupt(
        {
            "action_requests": [
                {
                    "name": m.name,
                    "args": calls.get(m.tool_call_id, {}),
                    "description": "This call already ran. Acknowledge its result, or flag it for the agent.",
                    "result": m.text if hasattr(m, "text") else str(m.content),
                }
                for m in results
            ],
            "review_configs": [{"action_name": m.name, "allowed_decisions": _AFTER_DECISIONS} for m in results],
            "countersign": {"stage": "after"},
        }
    )
    reviewed = []
    for message, decision in zip(results, answer["decisions"], strict=True):
        content = message.content
        if decision["type"] == "reject":
            content = f"{content}\n\nA human reviewer flagged this result: {decision.get('message') or 'no reason given'}"
        kwargs = {**message.additional_kwargs, _REVIEWED: decision["type"]}
        reviewed.append(message.model_copy(update={"content": content, "additional_kwargs": kwargs}))
    return {"messages": reviewed}


def _with_note(result: ToolMessage | Command[Any], note: str | None, said: str) -> ToolMessage | Command[Any]:
    """The tool's result with an approver's note after it (Countersign's "Approve with note…"), for the agent to read."""
    if not note or not isinstance(result, ToolMessage) or not isinstance(result.content, str):
        return result
    return result.model_copy(update={"content": f"{result.content}\n\n{said}: {note}"})


def _calls_by_id(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    calls: dict[str, dict[str, Any]] = {}
    for message in state.get("messages", []):
        for call in getattr(message, "tool_calls", None) or []:
            calls[call["id"]] = call["args"]
    return calls


def interrupt_before(tools: Sequence[str]) -> CountersignGate:
    """Ask a human before every call to these tools."""
    return CountersignGate(before=tools)


def interrupt_before_when(tool: str, when: Condition | None = None, predicate: Condition | None = None) -> CountersignGate:
    """Ask a human before calls to `tool` whose arguments meet a condition: an expression
    (`"amount >= 100"`, see the policy rules' `when`) or a callable taking the arguments."""
    condition = when if when is not None else predicate
    if condition is None:
        raise ValueError("interrupt_before_when needs a condition (when= or predicate=)")
    return CountersignGate(before_when={tool: condition})


def interrupt_after(tools: Sequence[str]) -> CountersignGate:
    """Have a human review the result of every call to these tools, after it ran."""
    return CountersignGate(after=tools)


def gated_tool_node(tools: Sequence[Any], gate: CountersignGate, **kwargs: Any) -> ToolNode:
    """A ToolNode for hand-built graphs whose calls go through `gate` (its `before` rules)."""
    return ToolNode(tools, wrap_tool_call=gate.wrap_tool_call, **kwargs)


def review_node(gate: CountersignGate) -> Callable[[Mapping[str, Any]], dict[str, Any] | None]:
    """A node to put after the ToolNode of a hand-built graph, reviewing results of the gate's `after` tools."""

    def review(state: Mapping[str, Any]) -> dict[str, Any] | None:
        return review_results(state, gate.after)

    return review


__all__ = [
    "CountersignGate",
    "gated_tool_node",
    "interrupt_after",
    "interrupt_before",
    "interrupt_before_when",
    "review_node",
]
