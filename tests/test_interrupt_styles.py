"""Every way a LangGraph agent can pause is rendered right in Slack and resumed the way it expects."""

from __future__ import annotations

from approvals.models import ApprovalRequest
from bot.ids import ActionId, BlockId
from sandbox.driver import number_value, plain_text_value
from tests.local import Local


def _buttons(local: Local, approval: ApprovalRequest) -> list[str]:
    blocks = local.message(approval)["blocks"]
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]


# LangChain HumanInTheLoopMiddleware, per-call mode, approve/reject only


def test_per_call_mode_shows_only_the_allowed_decisions(local: Local) -> None:
    approval = local.start_run("Refund order #110 for $250", agent="payments_per_call")

    assert _buttons(local, approval) == [ActionId.APPROVE, ActionId.REJECT]


def test_per_call_approval_runs_the_tool(local: Local) -> None:
    approval = local.start_run("Refund order #111 for $250", agent="payments_per_call")

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Refunded $250.00 for order #111" in local.outcome(approval)


def test_per_call_rejection_reaches_the_agent(local: Local) -> None:
    approval = local.start_run("Refund order #112 for $250", agent="payments_per_call")

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Not this week")

    outcome = local.outcome(approval)
    assert "I did not refund order #112" in outcome and "Not this week" in outcome


def test_edit_click_on_a_call_that_does_not_allow_edits_changes_nothing(local: Local) -> None:
    approval = local.start_run("Refund order #113 for $250", agent="payments_per_call")

    local.click("U0NOEDIT", ActionId.EDIT, approval)

    assert "does not allow edit" in local.ephemeral_to("U0NOEDIT")[0]
    assert local.store.requests.get(approval.id).is_pending


# LangChain HumanInTheLoopMiddleware, batched


def test_batched_mode_shows_only_the_allowed_decisions(local: Local) -> None:
    approval = local.start_run("Refund order #119 for $250", agent="payments_approve_or_reject")

    assert _buttons(local, approval) == [ActionId.APPROVE, ActionId.REJECT]
    local.click("U0APPROVER", ActionId.APPROVE, approval)
    assert "Refunded $250.00 for order #119" in local.outcome(approval)


def test_reply_answers_the_agent_instead_of_running_the_tool(local: Local) -> None:
    approval = local.start_run("Refund order #114 for $250")

    local.answer("U0APPROVER", ActionId.RESPOND, approval, "Already refunded by the bank on Monday")

    outcome = local.outcome(approval)
    assert "Already refunded by the bank on Monday" in outcome
    assert "Refunded $" not in outcome
    assert local.store.requests.get(approval.id).action.decision.type == "respond"


# Agent Inbox HumanInterrupt lists


def test_agent_inbox_interrupt_offers_accept_edit_respond_and_ignore(local: Local) -> None:
    approval = local.start_run("Tell customers about the outage", agent="inbox_email")

    assert approval.kind == "agent_inbox" and approval.action.tool == "send_email"
    assert _buttons(local, approval) == [ActionId.APPROVE, ActionId.EDIT, ActionId.RESPOND, ActionId.REJECT]


def test_agent_inbox_accept(local: Local) -> None:
    approval = local.start_run("Tell customers about the outage", agent="inbox_email")

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Sent 'Outage' to all@customers.example." in local.outcome(approval)


def test_agent_inbox_edit(local: Local) -> None:
    approval = local.start_run("Tell customers about the outage", agent="inbox_email")
    view = local.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]

    local.driver.view_submission(
        "U0APPROVER",
        view,
        {
            BlockId.for_arg("to"): {ActionId.ARG_VALUE: plain_text_value("eu@customers.example")},
            BlockId.for_arg("subject"): {ActionId.ARG_VALUE: plain_text_value("EU outage")},
        },
    )

    assert "Sent 'EU outage' to eu@customers.example." in local.outcome(approval)


def test_agent_inbox_response(local: Local) -> None:
    approval = local.start_run("Tell customers about the outage", agent="inbox_email")

    local.answer("U0APPROVER", ActionId.RESPOND, approval, "Wait for the status page")

    assert "Not sent. The reviewer said: Wait for the status page" in local.outcome(approval)


def test_agent_inbox_ignore(local: Local) -> None:
    approval = local.start_run("Tell customers about the outage", agent="inbox_email")

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Not needed")

    assert "Not sent: the reviewer ignored it." in local.outcome(approval)


# Static interrupt_before=["tools"] breakpoints on a hand-built graph


def test_breakpoint_shows_the_proposed_tool_call_from_state(local: Local) -> None:
    approval = local.start_run("Refund order #115 for $250", agent="breakpoint_refunds")

    assert approval.kind == "breakpoint"
    assert approval.action.tool == "lookup_order" and approval.action.args == {"order_id": "115"}


def test_two_step_chain_asks_again_in_the_same_thread_showing_the_step_already_approved(local: Local) -> None:
    lookup = local.start_run("Refund order #116 for $250", agent="breakpoint_refunds")
    local.click("U0APPROVER", ActionId.APPROVE, lookup)

    refund = local.wait_for_request(lookup.thread_id, count=2)
    assert refund.action.tool == "refund"
    assert local.message(refund)["thread_ts"] == local.ts_of(lookup)
    earlier = str(local.message(refund)["blocks"])
    assert "Earlier steps of this run:" in earlier and "1. `lookup_order`" in earlier
    assert "Approved* by <@U0APPROVER>" in earlier

    local.click("U0APPROVER", ActionId.APPROVE, refund)

    assert "Refunded $250.00 for order #116" in local.outcome(refund)


def test_breakpoint_edit_goes_in_with_update_state(local: Local) -> None:
    lookup = local.start_run("Refund order #117 for $250", agent="breakpoint_refunds")
    local.click("U0APPROVER", ActionId.APPROVE, lookup)
    refund = local.wait_for_request(lookup.thread_id, count=2)
    view = local.open_modal("U0APPROVER", ActionId.EDIT, refund).response["view"]

    local.driver.view_submission(
        "U0APPROVER",
        view,
        {
            BlockId.for_arg("order_id"): {ActionId.ARG_VALUE: plain_text_value("117")},
            BlockId.for_arg("amount"): {ActionId.ARG_VALUE: number_value("20")},
            BlockId.for_arg("reason"): {ActionId.ARG_VALUE: plain_text_value("partial")},
        },
    )

    assert "Refunded $20.00 for order #117 (reason: partial)" in local.outcome(refund)


def test_breakpoint_rejection_answers_the_call_without_running_it(local: Local) -> None:
    lookup = local.start_run("Refund order #118 for $250", agent="breakpoint_refunds")
    local.click("U0APPROVER", ActionId.APPROVE, lookup)
    refund = local.wait_for_request(lookup.thread_id, count=2)

    local.answer("U0APPROVER", ActionId.REJECT, refund, "Customer withdrew the request")

    outcome = local.outcome(refund)
    assert "I did not refund order #118" in outcome and "Customer withdrew the request" in outcome


# A bare interrupt(value) with arbitrary JSON


def test_bare_interrupt_value_is_shown_readably(local: Local) -> None:
    approval = local.start_run("Ship billing", agent="bare_deploy")

    fields = [f["text"] for b in local.message(approval)["blocks"] for f in b.get("fields", [])]
    assert "*service*\n`billing`" in fields and '*regions*\n`["eu", "us"]`' in fields
    assert _buttons(local, approval) == [ActionId.APPROVE, ActionId.RESPOND, ActionId.REJECT]


def test_bare_interrupt_approved(local: Local) -> None:
    approval = local.start_run("Ship billing", agent="bare_deploy")

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Deployed billing 1.2.3." in local.outcome(approval)


def test_bare_interrupt_answered_with_a_typed_reply(local: Local) -> None:
    approval = local.start_run("Ship billing", agent="bare_deploy")

    local.answer("U0APPROVER", ActionId.RESPOND, approval, "Only to eu first")

    assert "Not deployed; the reviewer replied: Only to eu first" in local.outcome(approval)


def test_bare_interrupt_rejected(local: Local) -> None:
    approval = local.start_run("Ship billing", agent="bare_deploy")

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Code freeze")

    assert "Not deployed: Code freeze" in local.outcome(approval)


# ask_human: inline clarification


def test_ask_human_posts_the_question_and_the_typed_answer_resumes_the_agent(local: Local) -> None:
    approval = local.start_run("Ship order #42", agent="warehouse")
    assert _buttons(local, approval) == [ActionId.RESPOND]
    assert "Which warehouse should ship order #42?" in str(local.message(approval)["blocks"])

    local.answer("U0APPROVER", ActionId.RESPOND, approval, "Rotterdam")

    assert "Shipping from Rotterdam." in local.outcome(approval)
