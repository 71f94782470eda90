"""A Reject never runs the call: a bare `interrupt()` is answered in the shape its agent reads, recognised
or declared, and failing closed when neither (agents written as their tutorials write them)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from approvals.policies import Rule
from approvals.runs import RunRequest, start_run
from approvals.tables import approvals
from bot.ids import ActionId, BlockId
from sandbox.driver import number_value, plain_text_value
from tests.agents import effects_dir
from tests.local import Local
from tests.stack import SlackUser, Stack, wait_until


def _buttons(stack: Stack, approval: Any) -> list[str]:
    blocks = stack.message(approval)["blocks"]
    return [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]


def _text(stack: Stack, approval: Any) -> str:
    return str(stack.message(approval)["blocks"])


def _run_outcome(stack: SlackUser, approval: Any) -> str:
    call = stack.slack.wait_for(
        "chat.postMessage",
        lambda call: (
            call.params.get("thread_ts") == stack.ts_of(approval)
            and call.params["text"].startswith((":robot_face:", ":no_entry:"))
        ),
        timeout=30,
    )
    return str(call.params["text"])


# LangGraph's tutorial review node (tool calls plus instructions naming 'approve' and 'reject'), read by either
# of its two executors: recognised without a declaration, and answered only with what both read the same way.

TUTORIAL_EXECUTORS = ["purchase_orders", "purchase_orders_with_edits"]


@pytest.mark.parametrize("agent", TUTORIAL_EXECUTORS)
def test_tutorial_review_node_offers_approve_and_reject_without_edit_and_says_how_to_declare(local: Local, agent: str) -> None:
    approval = local.start_run("Order supplies for $1200", agent=agent)

    assert approval.kind == "interrupt:approve_or_stop"
    assert approval.action.tool == "create_purchase_order"
    assert approval.action.args == {"supplier": "Acme", "amount": 1200.0}
    assert _buttons(local, approval) == ["Approve", "Reject"]
    text = _text(local, approval)
    assert "Reject stops the run without resuming the agent" in text
    assert 'agent(graph, resume={"tool_approval_request": "action"})' in text


@pytest.mark.parametrize(("agent", "amount"), [("purchase_orders", 1201), ("purchase_orders_with_edits", 1202)])
def test_tutorial_review_node_reject_stops_the_run_and_never_creates_the_order(local: Local, agent: str, amount: int) -> None:
    approval = local.start_run(f"Order supplies for ${amount}", agent=agent)

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Wrong supplier")

    outcome = _run_outcome(local, approval)
    assert outcome.startswith(f":no_entry: The `{agent}` run was stopped: <@U0APPROVER> said no: Wrong supplier.")
    assert 'resume={"tool_approval_request": "action"}' in outcome  # what to declare, in the thread
    assert f"Acme:{amount}.0" not in local.effects_of("orders")
    assert local.store.runs.get_run(approval.thread_id).status == "done"


@pytest.mark.parametrize(("agent", "amount"), [("purchase_orders", 1203), ("purchase_orders_with_edits", 1204)])
def test_tutorial_review_node_approve_creates_the_order_once(local: Local, agent: str, amount: int) -> None:
    approval = local.start_run(f"Order supplies for ${amount}", agent=agent)

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    assert f"Created a purchase order with Acme for ${amount}.00." in local.outcome(approval)
    assert local.effects_of("orders").count(f"Acme:{amount}.0") == 1


def test_tutorial_executor_with_edits_declared_action_reads_reject_and_reroutes(local: Local) -> None:
    approval = local.start_run("Order supplies for $1205", agent="purchase_orders_declared")
    assert approval.kind == "interrupt:action"
    assert _buttons(local, approval) == ["Approve", "Edit", "Reject"]

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Wrong supplier")

    assert "Tool call rejected by the human reviewer." in local.outcome(approval)
    assert "Acme:1205.0" not in local.effects_of("orders")


def test_tutorial_executor_with_edits_declared_action_runs_the_edited_call(local: Local) -> None:
    approval = local.start_run("Order supplies for $1206", agent="purchase_orders_declared")
    view = local.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]
    inputs = {b["block_id"]: b["element"]["type"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs[BlockId.for_arg("amount")] == "number_input"  # typed from the declared tool's schema

    local.driver.view_submission(
        "U0APPROVER",
        view,
        {
            BlockId.for_arg("supplier"): {ActionId.ARG_VALUE: plain_text_value("Globex")},
            BlockId.for_arg("amount"): {ActionId.ARG_VALUE: number_value("906")},
        },
    )

    assert "Created a purchase order with Globex for $906.00." in local.outcome(approval)
    assert "Acme:1206.0" not in local.effects_of("orders")
    assert local.effects_of("orders").count("Globex:906.0") == 1


def test_tutorial_review_node_posted_as_string_by_an_earlier_release_is_not_resumed_by_a_reject(local: Local) -> None:
    approval = local.start_run("Order supplies for $1208", agent="purchase_orders_with_edits")
    with local.store.db.engine.begin() as conn:  # as an earlier release stored it: recognised as "string"
        conn.execute(update(approvals).where(approvals.c.id == approval.id).values(kind="interrupt:string"))

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Wrong supplier")

    assert _run_outcome(local, approval).startswith(":no_entry: The `purchase_orders_with_edits` run was stopped")
    assert "Acme:1208.0" not in local.effects_of("orders")


def test_tutorial_executor_with_edits_reject_through_the_processes_creates_no_order(stack: Stack) -> None:
    approval = stack.start_run("Order supplies for $1207", agent="purchase_orders_with_edits")
    assert _buttons(stack, approval) == ["Approve", "Reject"]

    stack.answer("U0APPROVER", ActionId.REJECT, approval, "Wrong supplier")

    assert _run_outcome(stack, approval).startswith(":no_entry: The `purchase_orders_with_edits` run was stopped")
    assert stack.store.runs.get_run(approval.thread_id).status == "done"
    assert "Acme:1207.0" not in stack.effects_of("orders")


# A tool reading the answer as a boolean (`if not approval: return "cancelled"`), undeclared: fail closed.


def test_undeclared_interrupt_offers_approve_and_reject_and_says_how_to_declare(local: Local) -> None:
    approval = local.start_run("Pay $5000", agent="transfers")

    assert approval.kind == "interrupt:undeclared"
    assert _buttons(local, approval) == ["Approve", "Reject"]
    text = _text(local, approval)
    assert "Reject stops the run without resuming the agent" in text
    assert 'agent(graph, resume=\\"boolean\\")' in text or 'agent(graph, resume="boolean")' in text


def test_undeclared_interrupt_reject_stops_the_run_and_never_transfers(local: Local) -> None:
    approval = local.start_run("Pay $5001", agent="transfers")

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Not authorised")

    outcome = _run_outcome(local, approval)
    assert outcome.startswith(":no_entry: The `transfers` run was stopped: <@U0APPROVER> said no: Not authorised.")
    assert local.store.runs.get_run(approval.thread_id).status == "done"
    assert "ACME-001:5001.0" not in local.effects_of("transfers")


def test_undeclared_interrupt_approve_runs_the_tool(local: Local) -> None:
    approval = local.start_run("Pay $5002", agent="transfers")

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Transferred $5002.00 to ACME-001." in local.outcome(approval)
    assert local.effects_of("transfers").count("ACME-001:5002.0") == 1


def test_declared_boolean_reject_is_read_as_false_and_the_agent_says_cancelled(local: Local) -> None:
    approval = local.start_run("Pay $5003", agent="transfers_declared")
    assert approval.kind == "interrupt:boolean"

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Not authorised")

    assert "Transfer cancelled." in local.outcome(approval)
    assert "ACME-001:5003.0" not in local.effects_of("transfers")


def test_declared_boolean_approve_is_read_as_true(local: Local) -> None:
    approval = local.start_run("Pay $5004", agent="transfers_declared")

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Transferred $5004.00 to ACME-001." in local.outcome(approval)


# Deadlines respect what each call allows (in this process, the clock moved to the deadline).

QUICK_EXPIRY = Rule(name="quick expiry", tool="refund", timeout="1h")
SOFT_GO_AHEAD = Rule(name="soft go-ahead", tool="refund", level="soft", timeout="1h")


def test_deadline_on_a_call_that_cannot_be_rejected_or_answered_stops_the_run(local: Local) -> None:
    local.policies(QUICK_EXPIRY)
    approval = local.start_run("Refund order #310 for $250", agent="payments_approve_or_edit")
    assert approval.deadline_at is not None

    local.fire_due(approval.deadline_at + timedelta(seconds=1))

    outcome = _run_outcome(local, approval)
    assert outcome.startswith(":no_entry: The `payments_approve_or_edit` run was stopped: the deadline said no")
    assert "310" not in local_refunds()
    local.wait_for_update(approval, lambda call: "can be neither rejected nor answered" in str(call.params["blocks"]))


def test_soft_deadline_on_a_call_that_cannot_be_approved_rejects_it_and_says_so(local: Local) -> None:
    local.policies(SOFT_GO_AHEAD)
    approval = local.start_run("Refund order #311 for $250", agent="payments_edit_or_reject")
    assert approval.deadline_at is not None

    local.fire_due(approval.deadline_at + timedelta(seconds=1))

    assert "I did not refund order #311" in local.outcome(approval)
    assert "311" not in local_refunds()
    local.wait_for_update(approval, lambda call: "cannot go ahead at a deadline" in str(call.params["blocks"]))
    assert local.store.requests.get(approval.id).status == "expired"


def local_refunds() -> list[str]:
    """What the in-process effect agents' refund tool recorded doing."""
    record = effects_dir() / "refunds"
    return record.read_text().split() if record.exists() else []


def test_run_started_from_python_with_a_declared_protocol_needs_nothing_else(local: Local) -> None:
    request = RunRequest(agent="transfers_declared", input_text="Pay $5005", requested_by="U0ASKER")
    start_run(request, local.store, local.queue)

    approval = local.wait_for_request(request.thread_id)

    wait_until(lambda: _buttons(local, approval) == ["Approve", "Reject"], 5, "the buttons")
