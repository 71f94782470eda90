"""Levels: `manual` asks the approver to type CONFIRM, and a quorum needs that many different approvers."""

from __future__ import annotations

from approvals.models import ApprovalRequest
from bot.ids import ActionId, BlockId
from sandbox.driver import Response, number_value, plain_text_value
from tests.stack import Stack


def _confirm(stack: Stack, user: str, approval: ApprovalRequest, word: str) -> Response:
    view = stack.open_modal(user, ActionId.APPROVE, approval).response["view"]
    return stack.driver.view_submission(user, view, {BlockId.CONFIRM: {ActionId.CONFIRM: plain_text_value(word)}})


def test_approve_on_a_manual_rule_asks_for_confirm_instead_of_deciding(stack: Stack) -> None:
    approval = stack.start_run("Refund order #160 for $666")

    view = stack.open_modal("U0APPROVER", ActionId.APPROVE, approval).params["view"]

    assert any(b.get("block_id") == BlockId.CONFIRM for b in view["blocks"])
    assert stack.store.get(approval.id).is_pending


def test_anything_but_confirm_is_refused_inline(stack: Stack) -> None:
    approval = stack.start_run("Refund order #161 for $666")

    response = _confirm(stack, "U0APPROVER", approval, "confirm")

    assert response.json() == {
        "response_action": "errors",
        "errors": {BlockId.CONFIRM: "Type CONFIRM (in capitals) to approve."},
    }
    assert stack.store.get(approval.id).is_pending


def test_typed_confirm_approves_and_the_tool_runs(stack: Stack) -> None:
    approval = stack.start_run("Refund order #162 for $666")

    _confirm(stack, "U0APPROVER", approval, "CONFIRM")

    assert "Refunded $666.00 for order #162" in stack.outcome(approval)


def test_edit_on_a_manual_rule_needs_confirm_too(stack: Stack) -> None:
    approval = stack.start_run("Refund order #163 for $666")
    view = stack.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]
    values = {
        BlockId.for_arg("order_id"): {ActionId.ARG_VALUE: plain_text_value("163")},
        BlockId.for_arg("amount"): {ActionId.ARG_VALUE: number_value("600")},
        BlockId.for_arg("reason"): {ActionId.ARG_VALUE: plain_text_value("less")},
    }

    refused = stack.driver.view_submission("U0APPROVER", view, values)
    values[BlockId.CONFIRM] = {ActionId.CONFIRM: plain_text_value("CONFIRM")}
    stack.driver.view_submission("U0APPROVER", view, values)

    assert BlockId.CONFIRM in refused.json()["errors"]
    assert "Refunded $600.00 for order #163" in stack.outcome(approval)


def test_quorum_waits_for_the_second_approver_and_shows_progress(stack: Stack) -> None:
    approval = stack.start_run("Refund order #164 for $10000")

    _confirm(stack, "U0FIRST", approval, "CONFIRM")

    update = stack.wait_for_update(approval)
    assert "1 of 2 approvals so far: <@U0FIRST>." in str(update.params["blocks"])
    current = stack.store.get(approval.id)
    assert current.is_pending and current.action.votes == ["U0FIRST"]


def test_same_approver_twice_does_not_make_a_quorum(stack: Stack) -> None:
    approval = stack.start_run("Refund order #165 for $10000")
    _confirm(stack, "U0FIRST", approval, "CONFIRM")
    stack.wait_for_update(approval)

    response = _confirm(stack, "U0FIRST", approval, "CONFIRM")

    assert "you already approved this; it needs 2 different approvers" in str(response.json())
    assert stack.store.get(approval.id).is_pending


def test_quorum_of_two_distinct_approvers_runs_the_tool(stack: Stack) -> None:
    approval = stack.start_run("Refund order #166 for $10000")
    _confirm(stack, "U0FIRST", approval, "CONFIRM")
    stack.wait_for_update(approval)

    _confirm(stack, "U0SECOND", approval, "CONFIRM")

    assert "Refunded $10000.00 for order #166" in stack.outcome(approval)
    decided = stack.store.get(approval.id)
    assert decided.action.votes == ["U0FIRST", "U0SECOND"]
    stack.wait_for_update(approval, lambda call: "Approved* by <@U0FIRST>, <@U0SECOND>" in str(call.params["blocks"]))


def test_quorum_requests_offer_no_edit(stack: Stack) -> None:
    approval = stack.start_run("Refund order #167 for $10000")

    buttons = [e["action_id"] for b in stack.message(approval)["blocks"] if b["type"] == "actions" for e in b["elements"]]

    assert ActionId.EDIT not in buttons and ActionId.APPROVE in buttons


def test_one_rejection_ends_a_quorum_request(stack: Stack) -> None:
    approval = stack.start_run("Refund order #168 for $10000")
    _confirm(stack, "U0FIRST", approval, "CONFIRM")
    stack.wait_for_update(approval)

    stack.answer("U0SECOND", ActionId.REJECT, approval, "Too large")

    assert "I did not refund order #168" in stack.outcome(approval)


def test_soft_rule_is_posted_and_decided_like_any_request(stack: Stack) -> None:
    approval = stack.start_run("Refund order #169 for $3")

    assert approval.gate.level == "soft"
    assert "Rule _soft refunds_: anyone here but <@U0ASKER> may decide (soft)" in str(stack.message(approval)["blocks"])
    stack.click("U0APPROVER", ActionId.APPROVE, approval)
    assert "Refunded $3.00 for order #169" in stack.outcome(approval)
