"""The agent registry the test processes run (COUNTERSIGN_AGENTS=tests.agents:AGENTS)."""

from __future__ import annotations

import re
from collections.abc import Callable
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
    return create_agent(BatchRefundModel(), tools=[refund], middleware=[HumanInTheLoopMiddleware(interrupt_on={"refund": True})])


AGENTS = {
    "payments": payments_agent,
    # The same agent under a name of its own, for the admin tests' settings to apply to nothing else.
    "payments_admin": payments_agent,
    "payments_escalation": payments_agent,
    "payments_stats": payments_agent,
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

from countersign.agents import ask_human  # noqa: E402


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

from countersign.agents import CountersignGate, gated_tool_node, interrupt_after, interrupt_before_when, review_node  # noqa: E402


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
    return create_agent(ScriptedPaymentsModel(), tools=[lookup_order, counted_refund], middleware=[interrupt_after(["refund"])])


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


# --- Side effects that survive anything Redis does (the durability tests count them) --------------

import time  # noqa: E402
from pathlib import Path  # noqa: E402

from langchain_core.runnables import RunnableConfig  # noqa: E402

from countersign.agents import agent as agent_spec  # noqa: E402
from countersign.agents import idempotency_key  # noqa: E402


def effects_dir() -> Path:
    """Where the effect tools record what they did (the test stack sets COUNTERSIGN_TEST_EFFECTS)."""
    return Path(os.environ["COUNTERSIGN_TEST_EFFECTS"])


def _hold(key: str) -> None:
    # A test that created hold-<key> keeps the tool here until it creates release-<key> (or kills us).
    if (effects_dir() / f"hold-{key}").exists():
        (effects_dir() / f"holding-{key}").touch()
        while not (effects_dir() / f"release-{key}").exists():
            time.sleep(0.02)


@tool("lookup_order")
def effect_lookup(order_id: str) -> str:
    """Look up an order: its status and how much the customer paid."""
    _hold(f"lookup-{order_id}")
    return lookup_order.invoke({"order_id": order_id})


@tool("refund")
def effect_refund(order_id: str, amount: float, reason: str, config: RunnableConfig) -> str:
    """Refund part or all of an order's payment, recording each execution (and its idempotency key) in a file first."""
    with open(effects_dir() / "refunds", "a") as record:
        record.write(f"{order_id}\n")
    with open(effects_dir() / "refund-keys", "a") as record:
        record.write(f"{order_id}={idempotency_key(config)}\n")
    _hold(f"refund-{order_id}")
    return refund.invoke({"order_id": order_id, "amount": amount, "reason": reason})


def payments_effects() -> CompiledStateGraph:
    """The payments agent with tools whose executions are counted and can be held mid-way."""
    return create_agent(
        ScriptedPaymentsModel(),
        tools=[effect_lookup, effect_refund],
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"refund": True})],
    )


def batch_effects() -> CompiledStateGraph:
    """Several refunds in one turn, approved together, with tools whose executions are counted and can be held."""
    return create_agent(
        BatchRefundModel(), tools=[effect_refund], middleware=[HumanInTheLoopMiddleware(interrupt_on={"refund": True})]
    )


AGENTS.update(payments_effects=payments_effects, batch_effects=batch_effects)
# The same agent, its refunds declared idempotent: a refund cut off by a worker's death runs again unasked.
AGENTS["payments_idempotent"] = agent_spec(payments_effects, idempotent_tools=["refund"])


def gate_readme() -> CompiledStateGraph:
    """docs/agents.md's example: three Countersign gates in one middleware list."""
    from countersign.agents import interrupt_before

    return create_agent(
        ScriptedPaymentsModel(),
        tools=[lookup_order, counted_refund],
        middleware=[
            interrupt_before(["drop_table"]),
            interrupt_before_when(tool="refund", when="amount >= 100"),
            interrupt_after(["send_email"]),
        ],
    )


AGENTS.update(gate_readme=gate_readme)


# --- Bare interrupt() as tutorials write it (only the model scripted) -----------------------------

from langgraph.types import interrupt as _interrupt  # noqa: E402

from countersign.agents import agent  # noqa: E402


def _record(kind: str, line: str) -> None:
    with open(effects_dir() / kind, "a") as record:
        record.write(f"{line}\n")


@tool
def create_purchase_order(supplier: str, amount: float) -> str:
    """Create a purchase order with a supplier."""
    _record("orders", f"{supplier}:{amount}")
    return f"Created a purchase order with {supplier} for ${amount:.2f}."


class PurchaseState(TypedDict):
    messages: Annotated[list[BaseMessage], add_messages]
    tool_calls: list[dict]
    human_decision: Any


def _propose_purchase(state: PurchaseState) -> dict:
    # The scripted model: one purchase order for the amount asked.
    amount = float(re.search(r"\$(\d+)", str(state["messages"][-1].content))[1])  # type: ignore[index]
    return {"tool_calls": [{"name": "create_purchase_order", "args": {"supplier": "Acme", "amount": amount}, "id": "po-1"}]}


# LangGraph's `interrupt()` tutorial: a review node asks with the tool calls and instructions, and one of two
# executors reads the answer. Written as the issue quotes them (the published page was not in the reference
# corpus): `tool_executor` reads a string or `decision.get("action")`; `tool_executor_with_edits` rejects only
# a dict whose action is "reject", runs edited calls, and approves anything else.


def human_review_node(state: PurchaseState) -> dict:
    decision = _interrupt(
        {
            "type": "tool_approval_request",
            "tool_calls": state["tool_calls"],
            "instructions": "Reply with one of: 'approve', 'reject', or 'edit:<corrected_json>'",
        }
    )
    return {"human_decision": decision}


_PURCHASE_TOOLS = {"create_purchase_order": create_purchase_order}


def tool_executor(state: PurchaseState) -> dict:
    decision = state["human_decision"]
    action = decision if isinstance(decision, str) else decision.get("action")
    if action == "reject":
        return {"messages": [AIMessage(content="Tool call rejected by the human reviewer.")]}
    results = [_PURCHASE_TOOLS[call["name"]].invoke(call["args"]) for call in state["tool_calls"]]
    return {"messages": [AIMessage(content="\n".join(results))]}


def tool_executor_with_edits(state: PurchaseState) -> dict:
    decision = state["human_decision"]
    if isinstance(decision, dict) and decision.get("action") == "reject":
        return {"messages": [AIMessage(content="Tool call rejected by the human reviewer.")]}
    tool_calls = state["tool_calls"]
    if isinstance(decision, dict) and decision.get("action") == "edit":
        tool_calls = decision["tool_calls"]
    results = [_PURCHASE_TOOLS[call["name"]].invoke(call["args"]) for call in tool_calls]
    return {"messages": [AIMessage(content="\n".join(results))]}


def _purchase_graph(
    executor: Callable[[PurchaseState], dict], propose: Callable[[PurchaseState], dict] = _propose_purchase
) -> StateGraph:
    graph = StateGraph(PurchaseState)
    graph.add_node("propose", propose)
    graph.add_node("human_review", human_review_node)
    graph.add_node("execute", executor)
    graph.add_edge(START, "propose")
    graph.add_edge("propose", "human_review")
    graph.add_edge("human_review", "execute")
    graph.add_edge("execute", END)
    return graph


def purchase_orders() -> StateGraph:
    """The tutorial's review node read by its `tool_executor`."""
    return _purchase_graph(tool_executor)


def purchase_orders_with_edits() -> StateGraph:
    """The tutorial's review node read by its `tool_executor_with_edits`."""
    return _purchase_graph(tool_executor_with_edits)


@tool
def transfer(amount: float, to: str) -> str:
    """Transfer money to an account; large amounts need a human's approval."""
    approval = _interrupt({"message": f"Large transaction: ${amount:.0f}. Approve?", "amount": amount})
    if not approval:
        return "Transfer cancelled."
    _record("transfers", f"{to}:{amount}")
    return f"Transferred ${amount:.2f} to {to}."


class TransferModel(ScriptedPaymentsModel):
    """Transfers the asked amount, then says what the tool said."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if results:
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=str(results[-1].content)))])
        request = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
        amount = float(re.search(r"\$(\d+)", str(request.content))[1])  # type: ignore[index]
        call = {"name": "transfer", "args": {"amount": amount, "to": "ACME-001"}, "id": "t-1"}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="Transferring.", tool_calls=[call]))])


def transfers() -> CompiledStateGraph:
    """A tool that asks with a bare interrupt() and reads the answer as a boolean (`if not approval`)."""
    return create_agent(TransferModel(), tools=[transfer])


def payments_allowing(*decisions: str) -> Callable[[], CompiledStateGraph]:
    """The effect payments agent where approvers may only take these decisions on a refund."""

    def build() -> CompiledStateGraph:
        return create_agent(
            ScriptedPaymentsModel(),
            tools=[effect_lookup, effect_refund],
            middleware=[HumanInTheLoopMiddleware(interrupt_on={"refund": {"allowed_decisions": list(decisions)}})],
        )

    return build


AGENTS.update(
    # Recognised from its value: nothing declared.
    purchase_orders=agent(purchase_orders, tools=[create_purchase_order]),
    purchase_orders_with_edits=agent(purchase_orders_with_edits, tools=[create_purchase_order]),
    # The one line that gets the tutorial's executors told of a Reject (and, with edits, an Edit).
    purchase_orders_declared=agent(
        purchase_orders_with_edits, resume={"tool_approval_request": "action"}, tools=[create_purchase_order]
    ),
    transfers=transfers,
    transfers_declared=agent(transfers, resume="boolean"),
    payments_approve_or_edit=payments_allowing("approve", "edit"),
    payments_edit_or_reject=payments_allowing("edit", "reject"),
)
# The bare_deploy node reads LangChain's {"type": ...} dicts: declared as such.
AGENTS["bare_deploy"] = agent(bare_deploy, resume="typed")


# --- Static breakpoints: several calls, and a plain node ---------------------------------------------


def breakpoint_batch() -> StateGraph:
    """A hand-built ReAct graph proposing several refunds in one turn, stopped before its ToolNode."""
    model = BatchRefundModel()
    graph = StateGraph(Messages)
    graph.add_node("agent", lambda state: {"messages": [model.invoke(state["messages"])]})
    graph.add_node("tools", ToolNode([effect_refund]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile(interrupt_before=["tools"])


class DraftState(TypedDict):
    messages: Annotated[list[BaseMessage], add_messages]
    to: str
    draft: str


def announcements() -> StateGraph:
    """Draft, then send: a breakpoint before `send`, a node that proposes no tool call."""

    def write(state: DraftState) -> dict:
        topic = str(state["messages"][-1].content)
        return {
            "to": "all@customers.example",
            "draft": f"Dear customers, {topic}.",
            "messages": [AIMessage(content="Draft ready.")],
        }

    def send(state: DraftState) -> dict:
        _record("emails", state["to"])
        return {"messages": [AIMessage(content=f"Sent to {state['to']}.")]}

    graph = StateGraph(DraftState)
    graph.add_node("write", write)
    graph.add_node("send", send)
    graph.add_edge(START, "write")
    graph.add_edge("write", "send")
    graph.add_edge("send", END)
    return graph.compile(interrupt_before=["send"])


AGENTS.update(breakpoint_batch=breakpoint_batch, announcements=announcements)


# --- Async agents: an async-only tool, an async node ----------------------------------------------

import asyncio  # noqa: E402

from langchain_core.tools import StructuredTool  # noqa: E402


async def _refund_async(order_id: str, amount: float, reason: str, config: RunnableConfig) -> str:
    await asyncio.sleep(0)
    with open(effects_dir() / "refunds", "a") as record:
        record.write(f"{order_id}\n")
    with open(effects_dir() / "refund-keys", "a") as record:
        record.write(f"{order_id}={idempotency_key(config)}\n")
    if (effects_dir() / f"hold-refund-{order_id}").exists():  # as `_hold`, without blocking the event loop
        (effects_dir() / f"holding-refund-{order_id}").touch()
        while not (effects_dir() / f"release-refund-{order_id}").exists():
            await asyncio.sleep(0.02)
    return f"Refunded ${amount:.2f} for order #{order_id} (reason: {reason})."


async_refund = StructuredTool.from_function(
    coroutine=_refund_async, name="refund", description="Refund part or all of an order's payment."
)


def payments_async() -> CompiledStateGraph:
    """The payments agent whose refund tool has only an async implementation."""
    return create_agent(
        ScriptedPaymentsModel(),
        tools=[lookup_order, async_refund],
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"refund": True})],
    )


def deploy_async() -> StateGraph:
    """An `async def` node that pauses with a bare interrupt and reads LangChain's decision dicts."""

    async def deploy(state: Messages) -> dict:
        answer = _interrupt({"action": "deploy", "service": "search", "version": "2.0.0"})
        await asyncio.sleep(0)
        if answer["type"] == "approve":
            _record("deploys", "search-2.0.0")
            return {"messages": [AIMessage(content="Deployed search 2.0.0.")]}
        return {"messages": [AIMessage(content=f"Not deployed: {answer.get('message')}")]}

    graph = StateGraph(Messages)
    graph.add_node("deploy", deploy)
    graph.add_edge(START, "deploy")
    graph.add_edge("deploy", END)
    return graph


AGENTS.update(payments_async=payments_async, deploy_async=agent(deploy_async, resume="typed"))


AGENTS.update(payments_quiet=agent(payments_effects, progress=False))


def batch_refunds_per_call() -> CompiledStateGraph:
    """Several refunds in one turn, each gated by its own per-call interrupt (two requests at once)."""
    return create_agent(
        BatchRefundModel(),
        tools=[refund],
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"refund": True}, interrupt_mode="per_call")],
    )


AGENTS.update(batch_refunds_per_call=batch_refunds_per_call)


@tool
def post_to_ledger(account: str) -> str:
    """Post an entry to the ledger."""
    # A database error of the kind that carries the statement and its bound values, card number included.
    raise RuntimeError("(psycopg.errors.UniqueViolation) INSERT INTO ledger VALUES ('4111-1111-1111-1111')")


class LedgerModel(ScriptedPaymentsModel):
    """Posts to the ledger at once (an ungated call that fails)."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        call = {"name": "post_to_ledger", "args": {"account": "4111-1111-1111-1111"}, "id": "l-1"}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="Posting.", tool_calls=[call]))])


def ledger() -> CompiledStateGraph:
    """An agent whose tool fails with an error that must not reach Slack."""
    return create_agent(LedgerModel(), tools=[post_to_ledger])


AGENTS.update(ledger=ledger)


# --- A whole-number argument (the Edit modal's integer field) ---------------------------------------


@tool("restock")
def restock(sku: str, quantity: int, warehouses: list[str]) -> str:
    """Order more units of a product for some warehouses, recording each execution in a file first."""
    _record("restocks", f"{sku}:{quantity}")
    return f"Ordered {quantity} more of {sku} for {', '.join(warehouses)}."


class RestockModel(ScriptedPaymentsModel):
    """Restocks what is asked ("Restock SKU-7 with 12 units"), then says what the tool said."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if results:
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=str(results[-1].content)))])
        request = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
        asked = re.search(r"(SKU-\w+) with (\d+)", str(request.content))
        assert asked, "ask like 'Restock SKU-7 with 12 units'"
        args = {"sku": asked[1], "quantity": int(asked[2]), "warehouses": ["eu-1"]}
        call = {"name": "restock", "args": args, "id": f"restock-{asked[1]}"}
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="Restocking.", tool_calls=[call]))])


def restocks() -> CompiledStateGraph:
    """An agent whose gated tool takes an `int` and a list (HumanInTheLoopMiddleware, Approve / Edit / Reject)."""
    return create_agent(RestockModel(), tools=[restock], middleware=[HumanInTheLoopMiddleware(interrupt_on={"restock": True})])


AGENTS.update(restocks=restocks)


# --- Calls under different rules in one interrupt, and arguments a model sends as text -------------------


class LookupAndRefundModel(ScriptedPaymentsModel):
    """Proposes the lookup and the refund together, in one turn ("Refund order #42 for $250"), then sums up."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if results:
            text = "\n".join(str(m.content).rpartition("Tool response:")[2].strip() for m in results)
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
        request = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
        asked = re.search(r"#(\d+) for \$(\d+)", str(request.content))
        assert asked, "ask like 'Refund order #42 for $250'"
        calls = [
            {"name": "lookup_order", "args": {"order_id": asked[1]}, "id": f"lookup-{asked[1]}"},
            {
                "name": "refund",
                "args": {"order_id": asked[1], "amount": float(asked[2]), "reason": "asked"},
                "id": f"refund-{asked[1]}",
            },
        ]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="Checking and refunding.", tool_calls=calls))])


def lookup_and_refund() -> CompiledStateGraph:
    """Two gated calls in one interrupt, each of which policy may put under a different rule."""
    return create_agent(
        LookupAndRefundModel(),
        tools=[effect_lookup, effect_refund],
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"lookup_order": True, "refund": True})],
    )


class TextAmountModel(ScriptedPaymentsModel):
    """The payments script, but the refund's amount comes as text ("25000"), as some models send numbers."""

    def _next_message(self, messages: list[BaseMessage]) -> AIMessage:
        message = super()._next_message(messages)
        for call in message.tool_calls:
            if "amount" in call["args"]:
                call["args"]["amount"] = f"{call['args']['amount']:g}"
        return message


def payments_text_amounts() -> CompiledStateGraph:
    """The payments agent whose model sends amounts as text; the refund tool receives a float."""
    return create_agent(
        TextAmountModel(),
        tools=[effect_lookup, effect_refund],
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"refund": True})],
    )


# `payments_rules`: the payments agent under a name of its own, for rule-scoped admin settings to reach nothing else.
# `lookup_and_refund_generated`: the same, under a name of its own for tests/test_policy_holds.py's generated rules.
AGENTS.update(
    lookup_and_refund=lookup_and_refund,
    lookup_and_refund_generated=lookup_and_refund,
    payments_text_amounts=payments_text_amounts,
    payments_rules=payments_agent,
)


# --- Static breakpoints after a node (`interrupt_after`) ------------------------------------------------


class EmailState(TypedDict):
    messages: Annotated[list[BaseMessage], add_messages]
    to: str
    email: str


def _draft_then_send(interrupt_after: list[str] | str) -> Callable[[], CompiledStateGraph]:
    """Draft, then send (the HITL-patterns article's example): `draft` writes an e-mail, `send` sends it."""

    def build() -> CompiledStateGraph:
        def draft(state: EmailState) -> dict:
            topic = str(state["messages"][-1].content)
            return {
                "to": "all@customers.example",
                "email": f"Dear customers, {topic}.",
                "messages": [AIMessage(content=f"Drafted an e-mail about {topic}.")],
            }

        def send(state: EmailState) -> dict:
            _record("emails", f"{state['to']}:{state['email']}")
            return {"messages": [AIMessage(content=f"Sent to {state['to']}: {state['email']}")]}

        graph = StateGraph(EmailState)
        graph.add_node("draft", draft)
        graph.add_node("send", send)
        graph.add_edge(START, "draft")
        graph.add_edge("draft", "send")
        graph.add_edge("send", END)
        return graph.compile(interrupt_after=interrupt_after)

    return build


def lookups_reviewed_after() -> CompiledStateGraph:
    """A hand-built ReAct graph stopped after its ToolNode: what the tools returned is reviewed before the model reads it."""
    model = ScriptedPaymentsModel()
    graph = StateGraph(Messages)
    graph.add_node("agent", lambda state: {"messages": [model.invoke(state["messages"])]})
    graph.add_node("tools", ToolNode([effect_lookup, effect_refund]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile(interrupt_after=["tools"])


AGENTS.update(
    draft_send=_draft_then_send(["draft"]),
    draft_send_every_step=_draft_then_send("*"),
    lookups_reviewed_after=lookups_reviewed_after,
)


# --- A question answered with text (LangGraph's first human-input example) ---------------------------------


class TicketState(TypedDict):
    messages: Annotated[list[BaseMessage], add_messages]


def ticket_lookup() -> StateGraph:
    """`answer = interrupt("What is the ticket number?")`, resumed with the text the person types."""

    def ask(state: TicketState) -> dict:
        answer = _interrupt("What is the ticket number?")
        _record("tickets", str(answer))
        return {"messages": [AIMessage(content=f"Looking up ticket {answer}.")]}

    graph = StateGraph(TicketState)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph


def deploy_target() -> StateGraph:
    """A question listing its options, declared per interrupt type; another interrupt of the agent is typed."""

    def choose(state: TicketState) -> dict:
        target = _interrupt({"type": "choice", "question": "Deploy to which environment?", "options": ["staging", "production"]})
        return {"messages": [AIMessage(content=f"Deploying to {target}.")]}

    graph = StateGraph(TicketState)
    graph.add_node("choose", choose)
    graph.add_edge(START, "choose")
    graph.add_edge("choose", END)
    return graph


AGENTS.update(
    ticket_lookup=agent(ticket_lookup, resume="text"),
    ticket_lookup_undeclared=ticket_lookup,
    deploy_target=agent(deploy_target, resume={"choice": "text", "*": "typed"}),
)


# --- Tool calls that share an id (a faulty model or proxy): refused closed --------------------------------


class RepeatedIdModel(ScriptedPaymentsModel):
    """Proposes a refund for each "#order for $amount" asked, all under one tool-call id; told the ids repeated,
    proposes them again with an id each (or, `stubborn`, under one id again); then sums up what the tools said."""

    stubborn: bool = False

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        request = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
        since = messages[messages.index(request) :]
        proposals = [m for m in since if isinstance(m, AIMessage) and m.tool_calls]
        if len(proposals) >= 2:
            results = [m for m in since[since.index(proposals[-1]) :] if isinstance(m, ToolMessage)]
            text = "\n".join(str(m.content).rpartition("Tool response:")[2].strip() for m in results)
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
        calls = [
            {
                "name": "refund",
                "args": {"order_id": order, "amount": float(amount), "reason": "asked"},
                "id": f"refund-{order}" if proposals and not self.stubborn else "call_refund",
            }
            for order, amount in re.findall(r"#(\d+) for \$(\d+)", str(request.content))
        ]
        message = AIMessage(content=f"Refunding {len(calls)} orders.", tool_calls=calls)
        return ChatResult(generations=[ChatGeneration(message=message)])


def _breakpoint_repeated_ids(stubborn: bool) -> Callable[[], CompiledStateGraph]:
    """A hand-built ReAct graph stopped before its ToolNode, whose model gives two refunds the same call id."""

    def build() -> CompiledStateGraph:
        model = RepeatedIdModel(stubborn=stubborn)
        graph = StateGraph(Messages)
        graph.add_node("agent", lambda state: {"messages": [model.invoke(state["messages"])]})
        graph.add_node("tools", ToolNode([effect_refund]))
        graph.add_edge(START, "agent")
        graph.add_conditional_edges("agent", tools_condition)
        graph.add_edge("tools", "agent")
        return graph.compile(interrupt_before=["tools"])

    return build


def _propose_purchases_under_one_id(state: PurchaseState) -> dict:
    # Two purchase orders ("$9000 and $1"), both under the id `po-1`.
    amounts = [float(a) for a in re.findall(r"\$(\d+)", str(state["messages"][-1].content))]
    calls = [{"name": "create_purchase_order", "args": {"supplier": "Acme", "amount": a}, "id": "po-1"} for a in amounts]
    return {"tool_calls": calls}


def purchase_orders_repeated_ids() -> StateGraph:
    """The tutorial's review node, whose proposed calls share one id, read by `tool_executor_with_edits`."""
    return _purchase_graph(tool_executor_with_edits, _propose_purchases_under_one_id)


AGENTS.update(
    breakpoint_repeated_ids=_breakpoint_repeated_ids(stubborn=False),
    breakpoint_repeated_ids_again=_breakpoint_repeated_ids(stubborn=True),
    purchase_orders_repeated_ids=agent(
        purchase_orders_repeated_ids, resume={"tool_approval_request": "action"}, tools=[create_purchase_order]
    ),
)


class SerialRefundModel(ScriptedPaymentsModel):
    """Refunds the `#order for $amount`s of the request in turns, one turn (one pause) per comma-separated part (its
    refunds joined by `&` proposed together), then sums up."""

    def _next_message(self, messages: list[BaseMessage]) -> AIMessage:
        request = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
        done = [m for m in messages[messages.index(request) :] if isinstance(m, ToolMessage)]
        turns = [re.findall(r"#(\d+) for \$(\d+)", part) for part in str(request.content).split(",")]
        proposed = 0
        for turn in turns:
            proposed += len(turn)
            if len(done) < proposed:
                calls = [
                    {"name": "refund", "args": {"order_id": o, "amount": float(a), "reason": "serial"}, "id": f"call_{o}"}
                    for o, a in turn
                ]
                return AIMessage(content=f"Refunding {len(calls)} orders.", tool_calls=calls)
        return AIMessage(content="\n".join(str(m.content).rpartition("Tool response:")[2].strip() for m in done))


def serial_refunds() -> CompiledStateGraph:
    """Refunds several orders one after another, each refund asked about on its own (approvals that remember)."""
    return create_agent(SerialRefundModel(), tools=[refund], middleware=[HumanInTheLoopMiddleware(interrupt_on={"refund": True})])


# The same agent under another name, for a test whose admins' settings must not reach the others.
AGENTS.update(serial_refunds=serial_refunds, serial_refunds_admin=serial_refunds)


def payments_ungated() -> CompiledStateGraph:
    """The effect payments agent with no gate at all: lookup, then refund, with nothing asked in between."""
    return create_agent(ScriptedPaymentsModel(), tools=[effect_lookup, effect_refund])


AGENTS.update(payments_ungated=payments_ungated)
