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


def payments_approve_or_reject() -> CompiledStateGraph:
    """The payments agent, batched, where approvers may only approve or reject."""
    return create_agent(
        ScriptedPaymentsModel(),
        tools=[lookup_order, refund],
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"refund": {"allowed_decisions": ["approve", "reject"]}})],
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


AGENTS = {
    "payments": payments_agent,
    # The same agent under a name of its own, for the admin tests' settings to apply to nothing else.
    "payments_admin": payments_agent,
    "payments_escalation": payments_agent,
    "payments_per_call": payments_per_call,
    "payments_approve_or_reject": payments_approve_or_reject,
    "batch_refunds": batch_refunds,
}


# --- Hand-built graphs, one per interrupt style ------------------------------------------------

from typing import Annotated, TypedDict  # noqa: E402

from langgraph.graph import END, START, StateGraph  # noqa: E402
from langgraph.graph.message import add_messages  # noqa: E402
from langgraph.prebuilt import ToolNode, tools_condition  # noqa: E402
from langgraph.types import interrupt  # noqa: E402

from worker.tools import ask_human  # noqa: E402


class Messages(TypedDict):
    messages: Annotated[list[BaseMessage], add_messages]


def breakpoint_refunds() -> StateGraph:
    """A hand-built ReAct graph with a ToolNode, stopped by a static `interrupt_before=["tools"]`."""
    model = ScriptedPaymentsModel()
    graph = StateGraph(Messages)
    graph.add_node("agent", lambda state: {"messages": [model.invoke(state["messages"])]})
    graph.add_node("tools", ToolNode([lookup_order, refund]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile(interrupt_before=["tools"])


def inbox_email() -> StateGraph:
    """A node asking through an Agent Inbox `HumanInterrupt` before sending an email."""

    def review(state: Messages) -> dict:
        request = {
            "action_request": {"action": "send_email", "args": {"to": "all@customers.example", "subject": "Outage"}},
            "config": {"allow_accept": True, "allow_edit": True, "allow_respond": True, "allow_ignore": True},
            "description": "Email every customer about the outage.",
        }
        response = interrupt([request])[0]
        if response["type"] == "accept":
            text = "Sent 'Outage' to all@customers.example."
        elif response["type"] == "edit":
            args = response["args"]["args"]
            text = f"Sent {args['subject']!r} to {args['to']}."
        elif response["type"] == "response":
            text = f"Not sent. The reviewer said: {response['args']}"
        else:
            text = "Not sent: the reviewer ignored it."
        return {"messages": [AIMessage(content=text)]}

    graph = StateGraph(Messages)
    graph.add_node("review", review)
    graph.add_edge(START, "review")
    graph.add_edge("review", END)
    return graph


def bare_deploy() -> StateGraph:
    """A node that pauses with a bare `interrupt(value)` holding arbitrary JSON."""

    def deploy(state: Messages) -> dict:
        answer = interrupt({"action": "deploy", "service": "billing", "version": "1.2.3", "regions": ["eu", "us"]})
        if answer["type"] == "approve":
            text = "Deployed billing 1.2.3."
        elif answer["type"] == "respond":
            text = f"Not deployed; the reviewer replied: {answer['message']}"
        else:
            text = f"Not deployed: {answer['message']}"
        return {"messages": [AIMessage(content=text)]}

    graph = StateGraph(Messages)
    graph.add_node("deploy", deploy)
    graph.add_edge(START, "deploy")
    graph.add_edge("deploy", END)
    return graph


class WarehouseModel(ScriptedPaymentsModel):
    """Asks a human which warehouse to ship from, then says it will."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        answers = [m for m in messages if isinstance(m, ToolMessage) and m.name == "ask_human"]
        if answers:
            message = AIMessage(content=f"Shipping from {answers[-1].content}.")
        else:
            question = {"name": "ask_human", "args": {"question": "Which warehouse should ship order #42?"}, "id": "ask1"}
            message = AIMessage(content="I need a human to choose.", tool_calls=[question])
        return ChatResult(generations=[ChatGeneration(message=message)])


def warehouse() -> CompiledStateGraph:
    """An agent that clarifies with `ask_human`."""
    return create_agent(WarehouseModel(), tools=[ask_human])


AGENTS.update(
    breakpoint_refunds=breakpoint_refunds,
    inbox_email=inbox_email,
    bare_deploy=bare_deploy,
    warehouse=warehouse,
)


# --- Countersign's own gate ------------------------------------------------------------------

import os  # noqa: E402

from langchain_core.tools import tool  # noqa: E402
from redis import Redis  # noqa: E402

from worker.gate import CountersignGate, gated_tool_node, interrupt_after, interrupt_before_when, review_node  # noqa: E402


def gate_when() -> CompiledStateGraph:
    """`create_agent` gated by `interrupt_before_when`: only refunds of $100 or more need a human."""
    return create_agent(
        ScriptedPaymentsModel(),
        tools=[lookup_order, refund],
        middleware=[interrupt_before_when(tool="refund", when="amount >= 100")],
    )


@tool("refund")
def counted_refund(order_id: str, amount: float, reason: str) -> str:
    """Refund part or all of an order's payment, counting each execution in Redis (the side effect tests watch)."""
    Redis.from_url(os.environ["REDIS_URL"]).incr(f"test:refunds:{order_id}")
    return refund.invoke({"order_id": order_id, "amount": amount, "reason": reason})


def gate_after() -> CompiledStateGraph:
    """`create_agent` whose refunds run at once and are reviewed afterwards (`interrupt_after`)."""
    return create_agent(
        ScriptedPaymentsModel(), tools=[lookup_order, counted_refund], middleware=[interrupt_after(["refund"])]
    )


def gate_hand_built() -> StateGraph:
    """A hand-built graph: refunds asked about before (gated ToolNode), lookups reviewed after (review node)."""
    gate = CountersignGate(before=["refund"], after=["lookup_order"])
    model = ScriptedPaymentsModel()
    graph = StateGraph(Messages)
    graph.add_node("agent", lambda state: {"messages": [model.invoke(state["messages"])]})
    graph.add_node("tools", gated_tool_node([lookup_order, refund], gate))
    graph.add_node("review", review_node(gate))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "review")
    graph.add_edge("review", "agent")
    return graph


AGENTS.update(gate_when=gate_when, gate_after=gate_after, gate_hand_built=gate_hand_built)
