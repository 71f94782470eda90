"""Interrupts of LangChain's HumanInTheLoopMiddleware in per-call mode, with a subset of decisions allowed."""

from __future__ import annotations

from bot.ids import ActionId, BlockId
from tests.slack_driver import plain_text_value
from tests.stack import Stack


def _buttons(stack: Stack, approval) -> list[str]:
    blocks = stack.message(approval)["blocks"]
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_only_the_allowed_decisions_get_buttons(stack: Stack) -> None:
    approval = stack.start_run("Refund order #110 for $250", agent="payments_per_call")

    assert _buttons(stack, approval) == [ActionId.APPROVE, ActionId.REJECT]


def test_per_call_approval_runs_the_tool(stack: Stack) -> None:
    approval = stack.start_run("Refund order #111 for $250", agent="payments_per_call")

    stack.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Refunded $250.00 for order #111" in stack.outcome(approval)


def test_per_call_rejection_reaches_the_agent(stack: Stack) -> None:
    approval = stack.start_run("Refund order #112 for $250", agent="payments_per_call")
    view = stack.open_modal("U0APPROVER", ActionId.REJECT, approval).response["view"]

    stack.driver.view_submission(
        "U0APPROVER", view, {BlockId.REJECT_REASON: {ActionId.REJECT_REASON: plain_text_value("Not this week")}}
    )

    assert "I did not refund order #112" in stack.outcome(approval) and "Not this week" in stack.outcome(approval)


def test_edit_click_on_a_call_that_does_not_allow_edits_changes_nothing(stack: Stack) -> None:
    approval = stack.start_run("Refund order #113 for $250", agent="payments_per_call")

    stack.click("U0APPROVER", ActionId.EDIT, approval)

    assert "does not allow edit" in stack.ephemeral_to("U0APPROVER")[-1]
    assert stack.store.get(approval.id).is_pending
