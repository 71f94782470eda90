"""Static breakpoints: a graph compiled (or invoked) with `interrupt_before=[node]` stops before the node
(`StaticBreakpoint`), one with `interrupt_after=[node]` after it (`AfterNode`, found by `after_pause`).
LangGraph raises no interrupt at either; the proposed calls, or what the node produced, are read from
the thread's state, and the decisions are applied by updating that state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.constants import START
from langgraph.types import StateSnapshot

from approvals.models import ApprovalRequest, DecisionType, ProposedAction
from worker.pauses import Pause, Resumed, decision_of, jsonable, repeated_ids_refusal

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from worker.graph_session import GraphSession
    from worker.registry import Agent, AnyGraph

APPROVE, EDIT, REJECT, RESPOND = DecisionType.APPROVE, DecisionType.EDIT, DecisionType.REJECT, DecisionType.RESPOND


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
        refusals = [a for a in approval.actions if decision_of(a).type in (REJECT, RESPOND)]
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
        decisions = {action.call_id: decision_of(action) for action in approval.actions}
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


def _refusal_note(node: str, action: ProposedAction) -> str:
    decision = decision_of(action)
    return f"A human reviewer rejected the `{node}` step, so it did not run: {decision.message or 'no reason given'}"


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
        refusal = next((a for a in approval.actions if decision_of(a).type is not APPROVE), None)
        if refusal is None:
            graph.invoke(None, config)
            return Resumed.RESUMED
        state = graph.get_state(config)
        if isinstance(state.values, dict) and "messages" in state.values:
            reason = decision_of(refusal).message or "no reason given"
            note = f"A human reviewer stopped the run after `{refusal.tool}`, so nothing after it ran: {reason}"
            graph.update_state(config, {"messages": [HumanMessage(content=note)]}, as_node=refusal.tool)
        return Resumed.STOPPED
