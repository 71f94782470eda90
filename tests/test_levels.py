"""Levels: `manual` asks the approver to type CONFIRM, and a quorum needs that many different approvers."""

from __future__ import annotations

from approvals.models import ApprovalRequest
from bot.ids import ActionId, BlockId
from sandbox.driver import Response, number_value, plain_text_value
from tests.local import Local
from tests.policies import CAREFUL_REFUNDS, SOFT_REFUNDS, TWO_PERSON_REFUNDS


def _confirm(local: Local, user: str, approval: ApprovalRequest, word: str) -> Response:
    view = local.open_modal(user, ActionId.APPROVE, approval).response["view"]
    return local.driver.view_submission(user, view, {BlockId.CONFIRM: {ActionId.CONFIRM: plain_text_value(word)}})


def test_approve_on_a_manual_rule_asks_for_confirm_instead_of_deciding(local: Local) -> None:
    local.policies(CAREFUL_REFUNDS)
    approval = local.start_run("Refund order #160 for $666")

    view = local.open_modal("U0APPROVER", ActionId.APPROVE, approval).params["view"]

    assert any(b.get("block_id") == BlockId.CONFIRM for b in view["blocks"])
    assert local.store.requests.get(approval.id).is_pending


def test_anything_but_confirm_is_refused_inline(local: Local) -> None:
    local.policies(CAREFUL_REFUNDS)
    approval = local.start_run("Refund order #161 for $666")

    response = _confirm(local, "U0APPROVER", approval, "confirm")

    assert response.json() == {
        "response_action": "errors",
        "errors": {BlockId.CONFIRM: "Type CONFIRM (in capitals) to approve."},
    }
    assert local.store.requests.get(approval.id).is_pending


def test_typed_confirm_approves_and_the_tool_runs(local: Local) -> None:
    local.policies(CAREFUL_REFUNDS)
    approval = local.start_run("Refund order #162 for $666")

    _confirm(local, "U0APPROVER", approval, "CONFIRM")

    assert "Refunded $666.00 for order #162" in local.outcome(approval)


def test_edit_on_a_manual_rule_needs_confirm_too(local: Local) -> None:
    local.policies(CAREFUL_REFUNDS)
    approval = local.start_run("Refund order #163 for $666")
    view = local.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]
    values = {
        BlockId.for_arg("order_id"): {ActionId.ARG_VALUE: plain_text_value("163")},
        # Still $666, so still the careful rule's (an edit into another rule's call is a new proposal).
        BlockId.for_arg("amount"): {ActionId.ARG_VALUE: number_value("666")},
        BlockId.for_arg("reason"): {ActionId.ARG_VALUE: plain_text_value("reworded")},
    }

    refused = local.driver.view_submission("U0APPROVER", view, values)
    values[BlockId.CONFIRM] = {ActionId.CONFIRM: plain_text_value("CONFIRM")}
    local.driver.view_submission("U0APPROVER", view, values)

    assert BlockId.CONFIRM in refused.json()["errors"]
    assert "Refunded $666.00 for order #163 (reason: reworded)" in local.outcome(approval)


def test_quorum_waits_for_the_second_approver_and_shows_progress(local: Local) -> None:
    local.policies(TWO_PERSON_REFUNDS)
    approval = local.start_run("Refund order #164 for $10000")

    _confirm(local, "U0FIRST", approval, "CONFIRM")

    update = local.wait_for_update(approval)
    assert "1 of 2 approvals so far: <@U0FIRST>." in str(update.params["blocks"])
    current = local.store.requests.get(approval.id)
    assert current.is_pending and current.action.votes == ["U0FIRST"]


def test_same_approver_twice_does_not_make_a_quorum(local: Local) -> None:
    local.policies(TWO_PERSON_REFUNDS)
    approval = local.start_run("Refund order #165 for $10000")
    _confirm(local, "U0FIRST", approval, "CONFIRM")
    local.wait_for_update(approval)

    response = _confirm(local, "U0FIRST", approval, "CONFIRM")

    assert "you already approved this; it needs 2 different approvers" in str(response.json())
    assert local.store.requests.get(approval.id).is_pending


def test_quorum_of_two_distinct_approvers_runs_the_tool(local: Local) -> None:
    local.policies(TWO_PERSON_REFUNDS)
    approval = local.start_run("Refund order #166 for $10000")
    _confirm(local, "U0FIRST", approval, "CONFIRM")
    local.wait_for_update(approval)

    _confirm(local, "U0SECOND", approval, "CONFIRM")

    assert "Refunded $10000.00 for order #166" in local.outcome(approval)
    decided = local.store.requests.get(approval.id)
    assert decided.action.votes == ["U0FIRST", "U0SECOND"]
    local.wait_for_update(approval, lambda call: "Approved* by <@U0FIRST>, <@U0SECOND>" in str(call.params["blocks"]))


def test_quorum_requests_offer_no_edit(local: Local) -> None:
    local.policies(TWO_PERSON_REFUNDS)
    approval = local.start_run("Refund order #167 for $10000")

    buttons = [
        e["action_id"]
        for b in local.message(approval)["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    ]

    assert ActionId.EDIT not in buttons and ActionId.APPROVE in buttons


def test_one_rejection_ends_a_quorum_request(local: Local) -> None:
    local.policies(TWO_PERSON_REFUNDS)
    approval = local.start_run("Refund order #168 for $10000")
    _confirm(local, "U0FIRST", approval, "CONFIRM")
    local.wait_for_update(approval)

    local.answer("U0SECOND", ActionId.REJECT, approval, "Too large")

    assert "I did not refund order #168" in local.outcome(approval)


def test_soft_rule_is_posted_and_decided_like_any_request(local: Local) -> None:
    local.policies(SOFT_REFUNDS)
    approval = local.start_run("Refund order #169 for $3")

    assert approval.gate.level == "soft"
    assert "Rule _soft refunds_: anyone here but <@U0ASKER> may decide (soft)" in str(local.message(approval)["blocks"])
    local.click("U0APPROVER", ActionId.APPROVE, approval)
    assert "Refunded $3.00 for order #169" in local.outcome(approval)
