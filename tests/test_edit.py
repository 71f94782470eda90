"""Edit: approvers change the arguments in a modal typed from the tool's schema; bad values never decide."""

from __future__ import annotations

from typing import Any

import pytest

from bot.ids import ActionId, BlockId
from sandbox.driver import number_value, plain_text_value
from tests.local import Local


def _values(order_id: str, amount: str, reason: str) -> dict:
    return {
        BlockId.for_arg("order_id"): {ActionId.ARG_VALUE: plain_text_value(order_id)},
        BlockId.for_arg("amount"): {ActionId.ARG_VALUE: number_value(amount)},
        BlockId.for_arg("reason"): {ActionId.ARG_VALUE: plain_text_value(reason)},
    }


def test_edit_modal_has_one_typed_input_per_argument_prefilled_with_the_proposal(local: Local) -> None:
    approval = local.start_run("Refund order #50 for $250")

    view = local.open_modal("U0APPROVER", ActionId.EDIT, approval).params["view"]

    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs[BlockId.for_arg("amount")]["type"] == "number_input"
    assert inputs[BlockId.for_arg("amount")]["is_decimal_allowed"] is True
    assert inputs[BlockId.for_arg("amount")]["initial_value"] == "250.0"
    assert inputs[BlockId.for_arg("order_id")]["type"] == "plain_text_input"
    assert inputs[BlockId.for_arg("order_id")]["initial_value"] == "50"


def test_invalid_edit_shows_an_inline_error_and_decides_nothing(local: Local) -> None:
    approval = local.start_run("Refund order #51 for $250")
    view = local.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]

    response = local.driver.view_submission("U0APPROVER", view, _values("51", "a lot", "too much"))

    assert response.status == 200
    assert response.json() == {"response_action": "errors", "errors": {BlockId.for_arg("amount"): "Enter a number."}}
    assert local.store.requests.get(approval.id).is_pending


def test_valid_edit_after_an_invalid_one_runs_the_tool_with_the_edited_arguments(local: Local) -> None:
    approval = local.start_run("Refund order #52 for $250")
    view = local.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]
    local.driver.view_submission("U0APPROVER", view, _values("52", "a lot", "partial"))

    response = local.driver.view_submission("U0APPROVER", view, _values("52", "100", "partial refund"))

    assert response.status == 200 and not response.body  # an empty ack closes the modal
    assert "Refunded $100.00 for order #52 (reason: partial refund)" in local.outcome(approval)
    decision = local.store.requests.get(approval.id).action.decision
    assert (
        decision
        and decision.type == "edit"
        and decision.edited_args
        == {
            "order_id": "52",
            "amount": 100,
            "reason": "partial refund",
        }
    )


def test_edited_message_shows_what_was_proposed_and_what_was_approved(local: Local) -> None:
    approval = local.start_run("Refund order #53 for $250")
    view = local.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]

    local.driver.view_submission("U0APPROVER", view, _values("53", "75.5", "goodwill"))

    text = str(local.wait_for_update(approval).params["blocks"])
    assert "proposed `250.0`" in text and "approved `75.5`" in text
    assert "Approved with edits* by <@U0APPROVER>" in text


def test_edit_submitted_after_someone_else_decided_shows_who_on_the_form(local: Local) -> None:
    approval = local.start_run("Refund order #54 for $250")
    view = local.open_modal("U0SLOW", ActionId.EDIT, approval).response["view"]
    local.click("U0FAST", ActionId.APPROVE, approval)
    local.wait_for_update(approval)

    response = local.driver.view_submission("U0SLOW", view, _values("54", "10", "less"))

    errors = response.json()["errors"]
    assert "Approved* by <@U0FAST>" in next(iter(errors.values()))
    assert local.store.requests.get(approval.id).action.decision.decided_by == "U0FAST"


# --- Hostile values (issue 9): each gets its inline error, the request stays pending, the tool never runs ---


def _restock_values(sku: str, quantity: str, warehouses: str) -> dict[str, Any]:
    return {
        BlockId.for_arg("sku"): {ActionId.ARG_VALUE: plain_text_value(sku)},
        BlockId.for_arg("quantity"): {ActionId.ARG_VALUE: number_value(quantity)},
        BlockId.for_arg("warehouses"): {ActionId.ARG_VALUE: plain_text_value(warehouses)},
    }


def _reject_and_wait_for_the_outcome(local: Local, approval: Any) -> None:
    # Once the run has ended, a tool that did not run by then never will.
    local.answer("U0APPROVER", ActionId.REJECT, approval, "not with these values")
    local.outcome(approval)


@pytest.mark.parametrize(
    ("order", "field", "typed", "error"),
    [
        pytest.param("9101", "amount", "NaN", "Enter a finite number: NaN and Infinity are not allowed.", id="nan"),
        pytest.param("9102", "amount", "٢٥٠", "Type the number with the digits 0-9", id="arabic-indic-digits"),
        pytest.param("9103", "amount", "1_000", "Type the number without separators", id="underscore-separator"),
        pytest.param("9104", "amount", "99.99999999999999999", "This number has more digits", id="too-precise"),
        pytest.param("9105", "reason", "goodwill\x00", "Remove the NUL character", id="nul"),
        pytest.param("9106", "reason", "caf\ud800", "Remove the invalid character (a lone UTF-16 surrogate", id="lone-surrogate"),
    ],
)
def test_a_hostile_refund_edit_gets_an_inline_error_on_its_field_and_the_refund_never_runs(
    local: Local, order: str, field: str, typed: str, error: str
) -> None:
    approval = local.start_run(f"Refund order #{order} for $250", agent="payments_effects")
    view = local.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]
    values = _values(order, "250", "goodwill")
    values[BlockId.for_arg(field)][ActionId.ARG_VALUE]["value"] = typed

    response = local.driver.view_submission("U0APPROVER", view, values)

    assert response.status == 200
    errors = response.json()["errors"]
    assert list(errors) == [BlockId.for_arg(field)] and errors[BlockId.for_arg(field)].startswith(error)
    assert local.store.requests.get(approval.id).is_pending
    _reject_and_wait_for_the_outcome(local, approval)
    assert local.refunds_of(order) == 0


@pytest.mark.parametrize(
    ("sku", "field", "typed", "error"),
    [
        pytest.param(
            "SKU-9201", "quantity", "99.99999999999999999", "Enter a whole number: digits only", id="fraction-for-an-int"
        ),
        pytest.param("SKU-9202", "quantity", "1e3", "Enter a whole number: digits only", id="exponent-for-an-int"),
        pytest.param(
            "SKU-9203", "warehouses", "[" * 1500 + "]" * 1500, "This JSON nests more than 32 levels", id="nested-brackets"
        ),
    ],
)
def test_a_hostile_restock_edit_gets_an_inline_error_on_its_field_and_the_restock_never_runs(
    local: Local, sku: str, field: str, typed: str, error: str
) -> None:
    approval = local.start_run(f"Restock {sku} with 12 units", agent="restocks")
    view = local.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]
    values = _restock_values(sku, "12", '["eu-1"]')
    values[BlockId.for_arg(field)][ActionId.ARG_VALUE]["value"] = typed

    response = local.driver.view_submission("U0APPROVER", view, values)

    assert response.status == 200
    errors = response.json()["errors"]
    assert list(errors) == [BlockId.for_arg(field)] and errors[BlockId.for_arg(field)].startswith(error)
    assert local.store.requests.get(approval.id).is_pending
    _reject_and_wait_for_the_outcome(local, approval)
    assert not [line for line in local.effects_of("restocks") if line.startswith(f"{sku}:")]


def test_an_edited_whole_number_and_list_reach_the_tool_as_an_int_and_a_list(local: Local) -> None:
    approval = local.start_run("Restock SKU-9210 with 12 units", agent="restocks")
    view = local.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]

    response = local.driver.view_submission("U0APPROVER", view, _restock_values("SKU-9210", "20", '["eu-1", "us-2"]'))

    assert response.status == 200 and not response.body
    assert "Ordered 20 more of SKU-9210 for eu-1, us-2." in local.outcome(approval)
    assert local.effects_of("restocks").count("SKU-9210:20") == 1
