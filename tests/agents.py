"""The agent registry the test processes run (COUNTERSIGN_AGENTS=tests.agents:AGENTS)."""

from __future__ import annotations

import re
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.graph.state import CompiledStateGraph

from worker.demo_agents import ScriptedPaymentsModel, lookup_order, payments_agent, refund


def payments_per_call() -> CompiledStateGraph:
    """The payments agent gated per call, where approvers may only approve or reject."""
    return create_agent(
        ScriptedPaymentsModel(),
        tools=[lookup_order, refund],
        middleware=[
            HumanInTheLoopMiddleware(
                interrupt_on={"refund": {"allowed_decisions": ["approve", "reject"]}}, interrupt_mode="per_call"
            )
        ],
    )


class BatchRefundModel(ScriptedPaymentsModel):
    """Refunds every `#order` in the request at once (several tool calls in one turn), then sums up."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        request = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
        results = [m for m in messages[messages.index(request) :] if isinstance(m, ToolMessage)]
        if results:
            text = "\n".join(str(m.content).rpartition("Tool response:")[2].strip() for m in results)
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
        amount = float(re.search(r"\$(\d+)", str(request.content))[1])  # type: ignore[index]
        calls = [
            {"name": "refund", "args": {"order_id": order, "amount": amount, "reason": "batch"}, "id": f"call_{order}"}
            for order in re.findall(r"#(\d+)", str(request.content))
        ]
        message = AIMessage(content=f"Refunding {len(calls)} orders.", tool_calls=calls)
        return ChatResult(generations=[ChatGeneration(message=message)])


def batch_refunds() -> CompiledStateGraph:
    """Several gated calls in one interrupt (HumanInTheLoopMiddleware, batched)."""
    return create_agent(
        BatchRefundModel(), tools=[refund], middleware=[HumanInTheLoopMiddleware(interrupt_on={"refund": True})]
    )


AGENTS = {"payments": payments_agent, "payments_per_call": payments_per_call, "batch_refunds": batch_refunds}
