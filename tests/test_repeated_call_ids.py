"""One id per call (issue 23, finding 7): decisions and the tool journal are keyed by tool-call id, so when a
model gives two calls the same id, a decision on one could be carried out on the other (rejecting the $9,000
refund and approving the $1 one ran the $9,000 one). Such a pause is posted, says why, and is refused closed:
nobody decides its calls one by one, none of them runs, and the agent is asked to propose them again."""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.runnables import RunnableConfig

from approvals.models import ApprovalRequest, Decision, DecisionType, Run
from bot.ids import ActionId, BlockId
from sandbox.driver import plain_text_value
from tests.local import Local
from tests.stack import Stack
from worker.graph_session import graph_session
from worker.interrupts import StaticBreakpoint
from worker.run_state import pauses

ASKED = "Refund #{a} for $9000 and #{b} for $1"


def _buttons(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]


def _decide(local: Local, user: str, action: ActionId, approval: ApprovalRequest, position: int) -> str:
    """Click one call's button; returns the click's trigger id (a modal it opens carries it)."""
    response = local.click(user, action, approval, position)
    assert response.status == 200 and response.payload
    return str(response.payload["trigger_id"])


def test_two_refunds_sharing_an_id_at_a_breakpoint_are_posted_with_why_none_runs_and_nobody_can_decide_them(
    local: Local,
) -> None:
    approval = local.start_run(ASKED.format(a=711, b=712), agent="breakpoint_repeated_ids")

    message = local.message(approval)
    text = str(message["blocks"])
    assert [a.args["amount"] for a in approval.actions] == [9000.0, 1.0]
    assert "None of these calls runs, and nobody can decide them here." in text
    assert "The agent proposed calls that share a tool-call id, so Countersign cannot tell them apart" in text
    assert "2 of your tool calls had the same id (`call_refund`)" in text
    assert "asked to propose them again, each with an id of its own" in text
    assert not {ActionId.APPROVE, ActionId.APPROVE_ALL, ActionId.EDIT, ActionId.REJECT} & set(_buttons(message))
    local.wait_for_request(approval.thread_id, count=2, timeout=10)  # the refusal reached the agent
    assert local.refunds_of("711") == 0 and local.refunds_of("712") == 0
    assert all(action.call_id is None for action in local.store.requests.get(approval.id).actions)


def test_after_repeated_ids_are_refused_the_agent_proposes_again_and_each_call_is_decided_on_its_own(
    local: Local,
) -> None:
    refused = local.start_run(ASKED.format(a=721, b=722), agent="breakpoint_repeated_ids")

    fresh = local.wait_for_request(refused.thread_id, count=2, timeout=10)
    assert [(a.call_id, a.args["amount"]) for a in fresh.actions] == [("refund-721", 9000.0), ("refund-722", 1.0)]
    trigger = _decide(local, "U0APPROVER", ActionId.REJECT, fresh, 0)
    view = local.slack.wait_for("views.open", lambda call: call.params.get("trigger_id") == trigger).response["view"]
    local.driver.view_submission(
        "U0APPROVER", view, {BlockId.REJECT_REASON: {ActionId.REJECT_REASON: plain_text_value("Too much")}}
    )
    _decide(local, "U0APPROVER", ActionId.APPROVE, local.store.requests.get(fresh.id), 1)

    outcome = local.outcome(fresh)
    assert "Refunded $1.00 for order #722" in outcome
    assert local.refunds_of("721") == 0 and local.refunds_of("722") == 1


def test_an_agent_that_repeats_an_id_again_after_being_told_is_stopped_and_nothing_runs(local: Local) -> None:
    first = local.start_run(ASKED.format(a=761, b=762), agent="breakpoint_repeated_ids_again")

    again = local.wait_for_request(first.thread_id, count=2, timeout=10)
    notice = local.slack.wait_for(
        "chat.postMessage",
        lambda call: call.params.get("thread_ts") == local.thread_of(first).ts and call.params["text"].startswith(":no_entry:"),
        timeout=10,
    )

    assert notice.params["text"] == (
        ":no_entry: The `breakpoint_repeated_ids_again` run was stopped: told that several of its calls shared one id, "
        "its agent proposed calls sharing an id again, so Countersign cannot tell them apart. None of them ran, and "
        "the agent was not resumed."
    )
    assert "cannot tell them apart" in str(local.message(again)["blocks"])
    assert local.store.runs.get_run(first.thread_id).status == "done"
    assert len(local.store.lists.requests_for_thread(first.thread_id)) == 2
    assert local.refunds_of("761") == 0 and local.refunds_of("762") == 0


def test_an_interrupt_proposing_two_calls_under_one_id_is_refused_and_the_agent_reads_a_rejection(local: Local) -> None:
    before = local.effects_of("orders")

    approval = local.start_run("Order $9000 and $1 from Acme", agent="purchase_orders_repeated_ids")

    text = str(local.message(approval)["blocks"])
    assert "None of these calls runs, and nobody can decide them here." in text
    assert "2 of your tool calls had the same id (`po-1`)" in text
    assert local.outcome(approval) == ":robot_face: *purchase_orders_repeated_ids:* Tool call rejected by the human reviewer."
    assert local.effects_of("orders") == before


def test_through_the_processes_two_refunds_sharing_an_id_do_not_run_and_the_agent_proposes_again(stack: Stack) -> None:
    refused = stack.start_run(ASKED.format(a=731, b=732), agent="breakpoint_repeated_ids")
    assert "cannot tell them apart" in str(stack.message(refused)["blocks"])

    fresh = stack.wait_for_request(refused.thread_id, count=2)

    assert [(a.call_id, a.args["amount"]) for a in fresh.actions] == [("refund-731", 9000.0), ("refund-732", 1.0)]
    assert stack.refunds_of("731") == 0 and stack.refunds_of("732") == 0


def test_decisions_taken_one_by_one_on_calls_sharing_an_id_run_neither_call(local: Local) -> None:
    # As a request posted before this check was would be decided: reject the $9,000 refund, approve the $1 one.
    agent = local.runtime.registry.get("breakpoint_repeated_ids")
    thread_id = uuid.uuid4().hex
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    breakpoint = StaticBreakpoint()
    with graph_session(agent, local.settings) as graph:
        graph.invoke({"messages": [{"role": "user", "content": ASKED.format(a=741, b=742)}]}, config)
        [pause] = pauses(graph, graph.get_state(config))
        kind, (large, small) = breakpoint.to_actions(pause, agent)
        assert large.call_id == small.call_id == "call_refund"
        approval = ApprovalRequest(
            id=uuid.uuid4().hex,
            run=Run(thread_id=thread_id, agent=agent.name, input_text=ASKED),
            thread_id=thread_id,
            interrupt_id=pause.id,
            kind=kind,
            actions=[
                large.model_copy(update={"decision": Decision(type=DecisionType.REJECT, decided_by="U0APPROVER")}),
                small.model_copy(update={"decision": Decision(type=DecisionType.APPROVE, decided_by="U0APPROVER")}),
            ],
        )

        breakpoint.resume(graph, config, approval, agent)

        proposed_again = graph.get_state(config).values["messages"][-1]
    assert local.refunds_of("741") == 0 and local.refunds_of("742") == 0
    assert [call["id"] for call in proposed_again.tool_calls] == ["refund-741", "refund-742"]
