"""Every way a LangGraph agent can pause is rendered right in Slack and resumed the way it expects."""

from __future__ import annotations

from approvals.models import ApprovalRequest
from bot.ids import ActionId, BlockId
from sandbox.driver import number_value, plain_text_value
from tests.stack import Stack


def _buttons(stack: Stack, approval: ApprovalRequest) -> list[str]:
    blocks = stack.message(approval)["blocks"]
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


# LangChain HumanInTheLoopMiddleware, per-call mode, approve/reject only


def test_per_call_mode_shows_only_the_allowed_decisions(stack: Stack) -> None:
    approval = stack.start_run("Refund order #110 for $250", agent="payments_per_call")

    assert _buttons(stack, approval) == [ActionId.APPROVE, ActionId.REJECT]


def test_per_call_approval_runs_the_tool(stack: Stack) -> None:
    approval = stack.start_run("Refund order #111 for $250", agent="payments_per_call")

    stack.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Refunded $250.00 for order #111" in stack.outcome(approval)


def test_per_call_rejection_reaches_the_agent(stack: Stack) -> None:
    approval = stack.start_run("Refund order #112 for $250", agent="payments_per_call")

    stack.answer("U0APPROVER", ActionId.REJECT, approval, "Not this week")

    outcome = stack.outcome(approval)
    assert "I did not refund order #112" in outcome and "Not this week" in outcome


def test_edit_click_on_a_call_that_does_not_allow_edits_changes_nothing(stack: Stack) -> None:
    approval = stack.start_run("Refund order #113 for $250", agent="payments_per_call")

    stack.click("U0NOEDIT", ActionId.EDIT, approval)

    assert "does not allow edit" in stack.ephemeral_to("U0NOEDIT")[0]
    assert stack.store.get(approval.id).is_pending


# LangChain HumanInTheLoopMiddleware, batched


def test_batched_mode_shows_only_the_allowed_decisions(stack: Stack) -> None:
    approval = stack.start_run("Refund order #119 for $250", agent="payments_approve_or_reject")

    assert _buttons(stack, approval) == [ActionId.APPROVE, ActionId.REJECT]
    stack.click("U0APPROVER", ActionId.APPROVE, approval)
    assert "Refunded $250.00 for order #119" in stack.outcome(approval)


def test_reply_answers_the_agent_instead_of_running_the_tool(stack: Stack) -> None:
    approval = stack.start_run("Refund order #114 for $250")

    stack.answer("U0APPROVER", ActionId.RESPOND, approval, "Already refunded by the bank on Monday")

    outcome = stack.outcome(approval)
    assert "Already refunded by the bank on Monday" in outcome
    assert "Refunded $" not in outcome
    assert stack.store.get(approval.id).action.decision.type == "respond"


# Agent Inbox HumanInterrupt lists


def test_agent_inbox_interrupt_offers_accept_edit_respond_and_ignore(stack: Stack) -> None:
    approval = stack.start_run("Tell customers about the outage", agent="inbox_email")

    assert approval.kind == "agent_inbox" and approval.action.tool == "send_email"
    assert _buttons(stack, approval) == [ActionId.APPROVE, ActionId.EDIT, ActionId.RESPOND, ActionId.REJECT]


def test_agent_inbox_accept(stack: Stack) -> None:
    approval = stack.start_run("Tell customers about the outage", agent="inbox_email")

    stack.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Sent 'Outage' to all@customers.example." in stack.outcome(approval)


def test_agent_inbox_edit(stack: Stack) -> None:
    approval = stack.start_run("Tell customers about the outage", agent="inbox_email")
    view = stack.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]

    stack.driver.view_submission(
        "U0APPROVER",
        view,
        {
            BlockId.for_arg("to"): {ActionId.ARG_VALUE: plain_text_value("eu@customers.example")},
            BlockId.for_arg("subject"): {ActionId.ARG_VALUE: plain_text_value("EU outage")},
        },
    )

    assert "Sent 'EU outage' to eu@customers.example." in stack.outcome(approval)


def test_agent_inbox_response(stack: Stack) -> None:
    approval = stack.start_run("Tell customers about the outage", agent="inbox_email")

    stack.answer("U0APPROVER", ActionId.RESPOND, approval, "Wait for the status page")

    assert "Not sent. The reviewer said: Wait for the status page" in stack.outcome(approval)


def test_agent_inbox_ignore(stack: Stack) -> None:
    approval = stack.start_run("Tell customers about the outage", agent="inbox_email")

    stack.answer("U0APPROVER", ActionId.REJECT, approval, "Not needed")

    assert "Not sent: the reviewer ignored it." in stack.outcome(approval)


# Static interrupt_before=["tools"] breakpoints on a hand-built graph


def test_breakpoint_shows_the_proposed_tool_call_from_state(stack: Stack) -> None:
    approval = stack.start_run("Refund order #115 for $250", agent="breakpoint_refunds")

    assert approval.kind == "breakpoint"
    assert approval.action.tool == "lookup_order" and approval.action.args == {"order_id": "115"}


def test_two_step_chain_asks_again_in_the_same_thread_showing_the_step_already_approved(stack: Stack) -> None:
    lookup = stack.start_run("Refund order #116 for $250", agent="breakpoint_refunds")
    stack.click("U0APPROVER", ActionId.APPROVE, lookup)

    refund = stack.wait_for_request(lookup.thread_id, count=2)
    assert refund.action.tool == "refund"
    assert stack.message(refund)["thread_ts"] == lookup.message_ts
    earlier = str(stack.message(refund)["blocks"])
    assert "Earlier steps of this run:" in earlier and "1. `lookup_order`" in earlier
    assert "Approved* by <@U0APPROVER>" in earlier

    stack.click("U0APPROVER", ActionId.APPROVE, refund)

    assert "Refunded $250.00 for order #116" in stack.outcome(refund)


def test_breakpoint_edit_goes_in_with_update_state(stack: Stack) -> None:
    lookup = stack.start_run("Refund order #117 for $250", agent="breakpoint_refunds")
    stack.click("U0APPROVER", ActionId.APPROVE, lookup)
    refund = stack.wait_for_request(lookup.thread_id, count=2)
    view = stack.open_modal("U0APPROVER", ActionId.EDIT, refund).response["view"]

    stack.driver.view_submission(
        "U0APPROVER",
        view,
        {
            BlockId.for_arg("order_id"): {ActionId.ARG_VALUE: plain_text_value("117")},
            BlockId.for_arg("amount"): {ActionId.ARG_VALUE: number_value("20")},
            BlockId.for_arg("reason"): {ActionId.ARG_VALUE: plain_text_value("partial")},
        },
    )

    assert "Refunded $20.00 for order #117 (reason: partial)" in stack.outcome(refund)


def test_breakpoint_rejection_answers_the_call_without_running_it(stack: Stack) -> None:
    lookup = stack.start_run("Refund order #118 for $250", agent="breakpoint_refunds")
    stack.click("U0APPROVER", ActionId.APPROVE, lookup)
    refund = stack.wait_for_request(lookup.thread_id, count=2)

    stack.answer("U0APPROVER", ActionId.REJECT, refund, "Customer withdrew the request")

    outcome = stack.outcome(refund)
    assert "I did not refund order #118" in outcome and "Customer withdrew the request" in outcome


# A bare interrupt(value) with arbitrary JSON


def test_bare_interrupt_value_is_shown_readably(stack: Stack) -> None:
    approval = stack.start_run("Ship billing", agent="bare_deploy")

    fields = [f["text"] for b in stack.message(approval)["blocks"] for f in b.get("fields", [])]
    assert "*service*\n`billing`" in fields and '*regions*\n`["eu", "us"]`' in fields
    assert _buttons(stack, approval) == [ActionId.APPROVE, ActionId.RESPOND, ActionId.REJECT]


def test_bare_interrupt_approved(stack: Stack) -> None:
    approval = stack.start_run("Ship billing", agent="bare_deploy")

    stack.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Deployed billing 1.2.3." in stack.outcome(approval)


def test_bare_interrupt_answered_with_a_typed_reply(stack: Stack) -> None:
    approval = stack.start_run("Ship billing", agent="bare_deploy")

    stack.answer("U0APPROVER", ActionId.RESPOND, approval, "Only to eu first")

    assert "Not deployed; the reviewer replied: Only to eu first" in stack.outcome(approval)


def test_bare_interrupt_rejected(stack: Stack) -> None:
    approval = stack.start_run("Ship billing", agent="bare_deploy")

    stack.answer("U0APPROVER", ActionId.REJECT, approval, "Code freeze")

    assert "Not deployed: Code freeze" in stack.outcome(approval)


# ask_human: inline clarification


def test_ask_human_posts_the_question_and_the_typed_answer_resumes_the_agent(stack: Stack) -> None:
    approval = stack.start_run("Ship order #42", agent="warehouse")
    assert _buttons(stack, approval) == [ActionId.RESPOND]
    assert "Which warehouse should ship order #42?" in str(stack.message(approval)["blocks"])

    stack.answer("U0APPROVER", ActionId.RESPOND, approval, "Rotterdam")

    assert "Shipping from Rotterdam." in stack.outcome(approval)
