"""The bundled demo registry: a `payments` agent whose `refund` tool needs a human.

The model is scripted so the demo (and the tests) run offline; set `COUNTERSIGN_MODEL`
(e.g. `openai:gpt-4o-mini`) with the provider's key to use a real model instead.
"""

from __future__ import annotations

import os
import re
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain.agents.middleware.types import AgentState, InputAgentState, OutputAgentState
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph.state import CompiledStateGraph

SYSTEM_PROMPT = "You are a payments support agent. Look an order up before refunding it, and never refund more than was paid."

# A tiny in-memory order book so `lookup_order` has something true to say.
_ORDERS: dict[str, dict[str, Any]] = {}


def _order(order_id: str) -> dict[str, Any]:
    return _ORDERS.get(order_id) or {"order_id": order_id, "status": "delivered", "paid": 500.0}


@tool
def lookup_order(order_id: str) -> str:
    """Look up an order: its status and how much the customer paid."""
    order = _order(order_id)
    return f"Order #{order_id}: {order['status']}, paid ${order['paid']:.2f}."


@tool
def refund(order_id: str, amount: float, reason: str) -> str:
    """Refund part or all of an order's payment to the customer."""
    return f"Refunded ${amount:.2f} for order #{order_id} (reason: {reason})."


_REQUEST = re.compile(r"order\s*#?\s*(?P<order>[\w-]+).*?\$\s*(?P<amount>\d+(?:\.\d+)?)", re.I | re.S)


class ScriptedPaymentsModel(BaseChatModel):
    """An offline chat model that plays the refund script: look up, refund, sum up."""

    @property
    def _llm_type(self) -> str:
        return "countersign-scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedPaymentsModel:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next_message(messages))])

    def _next_message(self, messages: list[BaseMessage]) -> AIMessage:
        request = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
        turn = [m for m in messages[messages.index(request) :] if isinstance(m, ToolMessage)]
        match = _REQUEST.search(str(request.content))
        if match is None:
            return AIMessage(
                content='I can refund an order if you tell me which one and how much, e.g. "Refund order #42 for $250".'
            )
        order_id, amount = match["order"], float(match["amount"])
        called = {m.name for m in turn}
        if "lookup_order" not in called:
            return AIMessage(
                content=f"Let me look up order #{order_id} first.",
                tool_calls=[{"name": "lookup_order", "args": {"order_id": order_id}, "id": f"call_lookup_{order_id}"}],
            )
        if "refund" not in called:
            return AIMessage(
                content=(
                    f"Order #{order_id} checks out, so I will refund ${amount:.2f} as asked. "
                    "A refund moves money, so a human has to countersign it."
                ),
                tool_calls=[
                    {
                        "name": "refund",
                        "args": {"order_id": order_id, "amount": amount, "reason": str(request.content)},
                        "id": f"call_refund_{order_id}",
                    }
                ],
            )
        return AIMessage(content=_summary(order_id, turn))


def _summary(order_id: str, results: list[ToolMessage]) -> str:
    """Sum up what the tools said; a refused refund is reported, not retried."""
    lines = []
    for message in results:
        # An edited call's result starts with LangChain's reviewer notice; keep the tool's words.
        text = str(message.content).rpartition("Tool response:")[2].strip()
        if message.name == "refund" and message.status == "error":
            lines.append(f"I did not refund order #{order_id}. {text}")
        else:
            lines.append(text)
    return "\n".join(lines)


def payments_agent() -> CompiledStateGraph[AgentState[Any], None, InputAgentState, OutputAgentState[Any]]:
    """The `payments` agent: `refund` is gated, `lookup_order` is not."""
    model_name = os.environ.get("COUNTERSIGN_MODEL")
    model: Any = model_name or ScriptedPaymentsModel()
    return create_agent(
        model,
        tools=[lookup_order, refund],
        system_prompt=SYSTEM_PROMPT,
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"refund": True})],
        name="payments",
    )


AGENTS = {"payments": payments_agent}
