"""Interrupt adapters: each way a LangGraph run can pause becomes proposed actions, and the decisions
become the resume that kind of pause expects.

An adapter is one small class implementing `InterruptAdapter`; `ADAPTERS` lists them in the order
they are tried. Library shapes (LangChain's HITL middleware, Agent Inbox, `ask_human`) are
recognised by their keys; a bare `interrupt(value)` is answered in the agent's resume protocol
(`worker.protocols`), declared or recognised, failing closed when neither.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.constants import START
from langgraph.types import Command, StateSnapshot

from approvals.models import ApprovalRequest, Decision, DecisionType, ProposedAction
from worker.protocols import BUILT_IN, ResumeProtocol, TypedDecisions, protocol_for, resolve

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from worker.graph_session import GraphSession
    from worker.registry import Agent, AnyGraph

APPROVE, EDIT, REJECT, RESPOND = DecisionType.APPROVE, DecisionType.EDIT, DecisionType.REJECT, DecisionType.RESPOND


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


def _decision(action: ProposedAction) -> Decision:
    if action.decision is None:
        raise ValueError(f"`{action.tool}` has no decision yet")
    return action.decision


def _invoke_with(graph: GraphSession, config: RunnableConfig, approval: ApprovalRequest, value: Any) -> Resumed:
    graph.invoke(Command(resume={langgraph_interrupt_id(approval.interrupt_id): value}), config)
    return Resumed.RESUMED


class HumanInTheLoopBatched:
    """LangChain v1 `HumanInTheLoopMiddleware` (batched): `action_requests` + `review_configs`."""

    kind = "langchain_hitl"

    def matches(self, pause: Pause) -> bool:
        value = pause.value
        return isinstance(value, dict) and "action_requests" in value and "review_configs" in value

    def to_actions(self, pause: Pause, agent: Agent) -> tuple[str, list[ProposedAction]]:
        configs = {c["action_name"]: c for c in pause.value["review_configs"]}
        return self.kind, [
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
        return _invoke_with(graph, config, approval, {"decisions": [TypedDecisions.one(a) for a in approval.actions]})

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
        return _invoke_with(graph, config, approval, TypedDecisions.one(approval.action))

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
            decision = _decision(action)
            if decision.type is EDIT:
                responses.append({"type": "edit", "args": {"action": action.tool, "args": decision.edited_args or {}}})
            elif decision.type is RESPOND:
                responses.append({"type": "response", "args": decision.message or ""})
            elif decision.type is REJECT:
                responses.append({"type": "ignore", "args": None})
            else:
                responses.append({"type": "accept", "args": None})
        return _invoke_with(graph, config, approval, responses if approval.kind == self.kind else responses[0])


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


def _last_ai_message(values: Any) -> AIMessage | None:
    messages = values.get("messages", []) if isinstance(values, dict) else []
    return next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)


class StaticBreakpoint:
    """A graph compiled or invoked with `interrupt_before=[node]`. Before a ToolNode, the proposed tool calls
    are read from state: approved ones run, edited ones run as edited, rejected ones are answered with a
    ToolMessage giving the reason. Before any other node, approvers see what the node will act on; Reject
    skips the node (the graph carries on after it, and the agent and the thread are told)."""

    kind = "breakpoint"

    def matches(self, pause: Pause) -> bool:
        return pause.breakpoint_node is not None and not pause.ran

    def to_actions(self, pause: Pause, agent: Agent) -> tuple[str, list[ProposedAction]]:
        node = pause.breakpoint_node
        if not pause.value:
            state = pause.state if isinstance(pause.state, dict) else {"state": pause.state}
            shown = {key: value for key, value in state.items() if key != "messages"}
            return self.kind, [
                ProposedAction(
                    tool=str(node),
                    args=jsonable(shown),
                    description=f"Paused before `{node}`, which acts on the run's state shown here.",
                    allowed_decisions=[APPROVE, REJECT],
                )
            ]
        return self.kind, [
            ProposedAction(
                tool=call["name"],
                args=jsonable(call.get("args") or {}),
                description=f"Paused before `{node}`.",
                allowed_decisions=[APPROVE, EDIT, REJECT] if call.get("id") else [APPROVE, REJECT],
                args_schema=agent.tool_schemas.get(call["name"]),
                call_id=call.get("id"),
            )
            for call in pause.value
        ]

    def acts_in_node(self, approval: ApprovalRequest) -> bool:
        # Tool calls run in a (journalled) ToolNode; a plain node acts on the state itself.
        return not all(action.call_id for action in approval.actions)

    def resume(self, graph: GraphSession, config: RunnableConfig, approval: ApprovalRequest, agent: Agent) -> Resumed:
        state = graph.get_state(config)
        node = state.next[0]
        message = _last_ai_message(state.values)
        if message is not None and (text := repeated_ids_refusal([dict(call) for call in message.tool_calls])):
            # Whatever was decided: answers keyed by id would reach the wrong call, and the ToolNode would run
            # them all. Every call is answered as if the node had run, so none executes and the agent reads why.
            answers = [
                ToolMessage(content=text, tool_call_id=call["id"], name=call["name"], status="error")
                for call in message.tool_calls
            ]
            graph.update_state(config, {"messages": answers}, as_node=node)
            graph.invoke(None, config)
            return Resumed.RESUMED
        refusals = [a for a in approval.actions if _decision(a).type in (REJECT, RESPOND)]
        if not all(action.call_id for action in approval.actions) or message is None or not message.tool_calls:
            if not refusals:
                graph.invoke(None, config)
                return Resumed.RESUMED
            # Acting as the node, with nothing (or a note for the agent) as its update: it is skipped.
            note = _refusal_note(node, refusals[0])
            update = (
                {"messages": [HumanMessage(content=note)]}
                if isinstance(state.values, dict) and "messages" in state.values
                else None
            )
            graph.update_state(config, update, as_node=node)
            graph.invoke(None, config)
            return Resumed.SKIPPED
        decisions = {action.call_id: _decision(action) for action in approval.actions}
        kept, refused = [], []
        for call in message.tool_calls:
            decision = decisions.get(call["id"])
            if decision is None or decision.type is APPROVE:
                kept.append(call)
            elif decision.type is EDIT:
                kept.append({**call, "args": decision.edited_args or {}})
            else:
                refused.append((call, decision.message or "Rejected by a human reviewer."))
        answers = [
            ToolMessage(content=f"Not run: {reason}", tool_call_id=call["id"], name=call["name"], status="error")
            for call, reason in refused
        ]
        if not kept:
            # Answer every call as if the node had run, so the agent reads why and nothing executes.
            graph.update_state(config, {"messages": answers}, as_node=node)
        elif not refused:
            # The same message id replaces the model's message: the calls run as approved (or edited).
            graph.update_state(config, {"messages": [message.model_copy(update={"tool_calls": kept})]})
        else:
            # The model's message keeps the refused calls, answered with their reasons; the approved ones
            # follow in a message of their own, which is what the ToolNode runs.
            refused_calls = [call for call, _ in refused]
            graph.update_state(
                config,
                {
                    "messages": [
                        message.model_copy(update={"tool_calls": refused_calls}),
                        *answers,
                        AIMessage(content="", tool_calls=kept),
                    ]
                },
            )
        graph.invoke(None, config)
        return Resumed.RESUMED


def after_pause(graph: GraphSession | AnyGraph, state: StateSnapshot) -> Pause | None:
    """A stop after nodes the graph was compiled to stop after (`interrupt_after=[node]` or `"*"`). LangGraph
    raises nothing there: the thread just stands at the checkpoint the node wrote, with the next node to run,
    and the checkpoint before it says which nodes ran and what each wrote. At the end of the graph there is
    nothing left to hold back, so that is no stop."""
    after = graph.interrupt_after_nodes
    if not after or not state.next or state.parent_config is None:
        return None
    before = graph.get_state(state.parent_config)
    # START "runs" to write the input: a thread stopped before its first node (a worker killed in it) stands
    # after START, which no one compiled a stop after.
    ran = tuple(
        (t.name, t.result) for t in before.tasks if t.error is None and t.name != START and (after == "*" or t.name in after)
    )
    if not ran:
        return None
    # The checkpoint id names this stop: once the run carries on, the thread stands at another.
    return Pause(state.config["configurable"]["checkpoint_id"], None, breakpoint_node=state.next[0], state=state.values, ran=ran)


def _message_line(message: Any) -> Any:
    if not isinstance(message, BaseMessage):
        return jsonable(message)
    text = message.text if isinstance(message.content, (str, list)) else str(message.content)
    if isinstance(message, ToolMessage):
        return f"{message.name or 'tool'} returned: {text}"
    if isinstance(message, AIMessage) and message.tool_calls:
        calls = ", ".join(f"`{call['name']}`" for call in message.tool_calls)
        return f"{text} (calls {calls})" if text else f"calls {calls}"
    return text


def produced(writes: Any) -> dict[str, Any]:
    """What a node wrote, as an approver reads it: its state changes, the messages it added, and what its
    tools returned (a ToolNode's messages are tool results)."""
    if writes is None:
        return {}
    if not isinstance(writes, Mapping):
        return {"output": jsonable(writes)}
    shown: dict[str, Any] = {}
    for key, value in writes.items():
        if key != "messages":
            shown[key] = jsonable(value)
            continue
        messages = value if isinstance(value, list) else [value]
        added = [_message_line(m) for m in messages if not isinstance(m, ToolMessage)]
        results = [_message_line(m) for m in messages if isinstance(m, ToolMessage)]
        if added:
            shown["messages added"] = added
        if results:
            shown["tool results"] = results
    return shown


class AfterNode:
    """A graph compiled with `interrupt_after=[node]` (or `"*"`): the node ran, and approvers review what it
    produced before anything after it runs. Approve carries on (`invoke(None)`); Reject stops the run there,
    never resumed, and an agent whose state has messages finds a note saying why."""

    kind = "breakpoint_after"

    def matches(self, pause: Pause) -> bool:
        return bool(pause.ran)

    def to_actions(self, pause: Pause, agent: Agent) -> tuple[str, list[ProposedAction]]:
        return self.kind, [
            ProposedAction(
                tool=node,
                args=produced(writes),
                description=f"`{node}` ran and produced this; nothing after it runs until you decide. "
                "Approve carries on; Reject stops the run here.",
                allowed_decisions=[APPROVE, REJECT],
            )
            for node, writes in pause.ran
        ]

    def acts_in_node(self, approval: ApprovalRequest) -> bool:
        # What runs after the pause is any node, not a journalled ToolNode.
        return True

    def resume(self, graph: GraphSession, config: RunnableConfig, approval: ApprovalRequest, agent: Agent) -> Resumed:
        refusal = next((a for a in approval.actions if _decision(a).type is not APPROVE), None)
        if refusal is None:
            graph.invoke(None, config)
            return Resumed.RESUMED
        state = graph.get_state(config)
        if isinstance(state.values, dict) and "messages" in state.values:
            reason = _decision(refusal).message or "no reason given"
            note = f"A human reviewer stopped the run after `{refusal.tool}`, so nothing after it ran: {reason}"
            graph.update_state(config, {"messages": [HumanMessage(content=note)]}, as_node=refusal.tool)
        return Resumed.STOPPED


def _refusal_note(node: str, action: ProposedAction) -> str:
    decision = _decision(action)
    return f"A human reviewer rejected the `{node}` step, so it did not run: {decision.message or 'no reason given'}"


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
        return _invoke_with(graph, config, approval, _decision(approval.action).message or "")

    def acts_in_node(self, approval: ApprovalRequest) -> bool:
        return False


_PROMPT_KEYS = ("question", "message", "description", "prompt")


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
        return _invoke_with(graph, config, approval, value)


ADAPTERS: list[InterruptAdapter] = [
    AfterNode(),
    StaticBreakpoint(),
    HumanInTheLoopBatched(),
    HumanInTheLoopPerCall(),
    AgentInbox(),
    AskHuman(),
    InterruptValue(),
]


def adapter_for(pause: Pause) -> InterruptAdapter:
    """The first adapter that understands a pause (a bare interrupt always matches last)."""
    return next(adapter for adapter in ADAPTERS if adapter.matches(pause))


def adapter_for_kind(kind: str) -> InterruptAdapter:
    """The adapter that produced a stored request (its kind, before any `:protocol` part)."""
    base = kind.partition(":")[0]
    for adapter in ADAPTERS:
        if adapter.kind == base:
            return adapter
    raise ValueError(f"unknown interrupt kind {kind!r}")
