"""Edit: approvers change the arguments in a modal typed from the tool's schema; bad values never decide."""

from __future__ import annotations

from bot.ids import ActionId, BlockId
from tests.slack_driver import number_value, plain_text_value
from tests.stack import Stack


def _values(order_id: str, amount: str, reason: str) -> dict:
    return {
        BlockId.for_arg("order_id"): {ActionId.ARG_VALUE: plain_text_value(order_id)},
        BlockId.for_arg("amount"): {ActionId.ARG_VALUE: number_value(amount)},
        BlockId.for_arg("reason"): {ActionId.ARG_VALUE: plain_text_value(reason)},
    }


def test_edit_modal_has_one_typed_input_per_argument_prefilled_with_the_proposal(stack: Stack) -> None:
    approval = stack.start_run("Refund order #50 for $250")

    view = stack.open_modal("U0APPROVER", ActionId.EDIT, approval).params["view"]

    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs[BlockId.for_arg("amount")]["type"] == "number_input"
    assert inputs[BlockId.for_arg("amount")]["is_decimal_allowed"] is True
    assert inputs[BlockId.for_arg("amount")]["initial_value"] == "250.0"
    assert inputs[BlockId.for_arg("order_id")]["type"] == "plain_text_input"
    assert inputs[BlockId.for_arg("order_id")]["initial_value"] == "50"


def test_invalid_edit_shows_an_inline_error_and_decides_nothing(stack: Stack) -> None:
    approval = stack.start_run("Refund order #51 for $250")
    view = stack.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]

    response = stack.driver.view_submission("U0APPROVER", view, _values("51", "a lot", "too much"))

    assert response.status == 200
    assert response.json() == {"response_action": "errors", "errors": {BlockId.for_arg("amount"): "Enter a number."}}
    assert stack.store.get(approval.id).is_pending


def test_valid_edit_after_an_invalid_one_runs_the_tool_with_the_edited_arguments(stack: Stack) -> None:
    approval = stack.start_run("Refund order #52 for $250")
    view = stack.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]
    stack.driver.view_submission("U0APPROVER", view, _values("52", "a lot", "partial"))

    response = stack.driver.view_submission("U0APPROVER", view, _values("52", "100", "partial refund"))

    assert response.status == 200 and not response.body  # an empty ack closes the modal
    assert "Refunded $100.00 for order #52 (reason: partial refund)" in stack.outcome(approval)
    decision = stack.store.get(approval.id).action.decision
    assert decision and decision.type == "edit" and decision.edited_args == {
        "order_id": "52",
        "amount": 100,
        "reason": "partial refund",
    }


def test_edited_message_shows_what_was_proposed_and_what_was_approved(stack: Stack) -> None:
    approval = stack.start_run("Refund order #53 for $250")
    view = stack.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]

    stack.driver.view_submission("U0APPROVER", view, _values("53", "75.5", "goodwill"))

    text = str(stack.wait_for_update(approval).params["blocks"])
    assert "proposed `250.0`" in text and "approved `75.5`" in text
    assert "Approved with edits* by <@U0APPROVER>" in text


def test_edit_submitted_after_someone_else_decided_shows_who_on_the_form(stack: Stack) -> None:
    approval = stack.start_run("Refund order #54 for $250")
    view = stack.open_modal("U0SLOW", ActionId.EDIT, approval).response["view"]
    stack.click("U0FAST", ActionId.APPROVE, approval)
    stack.wait_for_update(approval)

    response = stack.driver.view_submission("U0SLOW", view, _values("54", "10", "less"))

    errors = response.json()["errors"]
    assert "Approved* by <@U0FAST>" in next(iter(errors.values()))
    assert stack.store.get(approval.id).action.decision.decided_by == "U0FAST"
