"""Reject: the approver gives a reason, the tool does not run, and the agent answers with the reason."""

from __future__ import annotations

from bot.ids import ActionId, BlockId
from sandbox.driver import plain_text_value
from tests.local import Local


def _reason(text: str) -> dict:
    return {BlockId.REJECT_REASON: {ActionId.REJECT_REASON: plain_text_value(text)}}


def test_reject_without_a_reason_is_refused_inline(local: Local) -> None:
    approval = local.start_run("Refund order #60 for $250")
    view = local.open_modal("U0APPROVER", ActionId.REJECT, approval).response["view"]

    response = local.driver.view_submission("U0APPROVER", view, _reason("   "))

    assert response.json()["response_action"] == "errors"
    assert BlockId.REJECT_REASON in response.json()["errors"]
    assert local.store.requests.get(approval.id).is_pending


def test_rejected_refund_does_not_run_and_the_agent_answers_with_the_reason(local: Local) -> None:
    approval = local.start_run("Refund order #61 for $250")
    view = local.open_modal("U0APPROVER", ActionId.REJECT, approval).response["view"]

    local.driver.view_submission("U0APPROVER", view, _reason("The bank already refunded it"))

    outcome = local.outcome(approval)
    assert "I did not refund order #61" in outcome
    assert "The bank already refunded it" in outcome
    assert "Refunded $" not in outcome


def test_rejected_message_shows_who_rejected_and_why(local: Local) -> None:
    approval = local.start_run("Refund order #62 for $250")
    view = local.open_modal("U0APPROVER", ActionId.REJECT, approval).response["view"]

    local.driver.view_submission("U0APPROVER", view, _reason("Fraud suspected"))

    text = str(local.wait_for_update(approval).params["blocks"])
    assert "Rejected* by <@U0APPROVER>" in text and "Fraud suspected" in text
    assert local.store.requests.get(approval.id).action.decision.message == "Fraud suspected"
