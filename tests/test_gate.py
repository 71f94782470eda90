"""Countersign's own gate, for `create_agent` agents (middleware) and hand-built graphs (around a ToolNode)."""

from __future__ import annotations

from approvals.runs import RunRequest, start_run
from bot.ids import ActionId
from tests.stack import Stack


def test_interrupt_before_when_lets_calls_under_the_condition_through(stack: Stack) -> None:
    request = RunRequest(agent="gate_when", input_text="Refund order #170 for $50", reply_channel="C0GATE")

    start_run(request, stack.store, stack.queue)

    answer = stack.slack.wait_for("chat.postMessage", lambda call: call.params.get("channel") == "C0GATE")
    assert "Refunded $50.00 for order #170" in answer.params["text"]
    assert stack.store.lists.requests_for_thread(request.thread_id) == []


def test_interrupt_before_when_asks_when_the_condition_holds(stack: Stack) -> None:
    approval = stack.start_run("Refund order #171 for $150", agent="gate_when")
    assert approval.action.tool == "refund" and approval.action.args["amount"] == 150.0

    stack.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Refunded $150.00 for order #171" in stack.outcome(approval)


def test_interrupt_before_when_rejection_reaches_the_agent(stack: Stack) -> None:
    approval = stack.start_run("Refund order #172 for $150", agent="gate_when")

    stack.answer("U0APPROVER", ActionId.REJECT, approval, "Needs a manager")

    outcome = stack.outcome(approval)
    assert "I did not refund order #172" in outcome and "Needs a manager" in outcome


def test_interrupt_after_shows_what_the_call_did_with_acknowledge_and_flag(stack: Stack) -> None:
    approval = stack.start_run("Refund order #173 for $40", agent="gate_after")

    blocks = stack.message(approval)["blocks"]
    assert "Refunded $40.00 for order #173" in str(blocks)
    labels = [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]
    assert labels[0] == "Acknowledge" and labels[-1] == "Flag"


def test_flagged_result_reaches_the_agent_and_the_tool_ran_once(stack: Stack) -> None:
    approval = stack.start_run("Refund order #174 for $40", agent="gate_after")

    stack.answer("U0APPROVER", ActionId.REJECT, approval, "Wrong card refunded")

    outcome = stack.outcome(approval)
    assert "A human reviewer flagged this result: Wrong card refunded" in outcome
    assert stack.queue.queue.connection.get("test:refunds:174") == b"1"
    assert "Flagged* by <@U0APPROVER>" in str(stack.wait_for_update(approval).params["blocks"])


def test_hand_built_graph_reviews_after_and_asks_before(stack: Stack) -> None:
    review = stack.start_run("Refund order #175 for $60", agent="gate_hand_built")
    assert review.action.tool == "lookup_order" and review.action.result == "Order #175: delivered, paid $500.00."
    stack.click("U0APPROVER", ActionId.APPROVE, review)

    before = stack.wait_for_request(review.thread_id, count=2)
    assert before.action.tool == "refund" and before.action.result is None
    stack.click("U0APPROVER", ActionId.APPROVE, before)

    assert "Refunded $60.00 for order #175" in stack.outcome(before)


def test_the_readmes_three_gates_work_together_in_one_agent(stack: Stack) -> None:
    small = RunRequest(agent="gate_readme", input_text="Refund order #178 for $50", reply_channel="C0GATES")
    start_run(small, stack.store, stack.queue)
    answer = stack.slack.wait_for("chat.postMessage", lambda call: call.params.get("channel") == "C0GATES")
    assert "Refunded $50.00 for order #178" in answer.params["text"]

    approval = stack.start_run("Refund order #179 for $150", agent="gate_readme")
    stack.answer("U0APPROVER", ActionId.REJECT, approval, "Over the limit")

    assert "I did not refund order #179" in stack.outcome(approval)
    assert stack.queue.connection.get("test:refunds:179") is None  # the rejected refund never ran
