"""Approve with note: the "⋯" menu's "Approve with note…" opens a modal whose note is recorded with the approval
(the decision and the audit log), shown on the request, and read by the agent where its resume protocol has a
place for it (Countersign's own gate)."""

from __future__ import annotations

from typing import Any

from approvals.models import ApprovalRequest, Decision, DecisionType, Status
from bot.ids import ActionId, BlockId, CallbackId
from bot.more_menu import More
from bot.note_modal import note_modal
from bot.request_message import decision_line
from sandbox.driver import Response, plain_text_value
from tests.local import Local
from tests.policies import CAREFUL_REFUNDS, TWO_PERSON_REFUNDS
from tests.test_block_kit import approval as stored_request
from tests.test_block_kit import valid_modal


def _open_note_modal(local: Local, user: str, approval: ApprovalRequest) -> dict[str, Any]:
    message = local.message(approval)
    menu = next(e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "overflow")
    option = next(o["value"] for o in menu["options"] if o["value"].startswith(f"{More.NOTE.value} "))
    posted = local.posted(approval)
    assert posted is not None
    response = local.driver.block_action(user, ActionId.MORE, option, channel_id=posted.channel, message=message)
    assert response.status == 200 and response.payload is not None
    trigger_id = response.payload["trigger_id"]
    opened = local.slack.wait_for("views.open", lambda call: call.params.get("trigger_id") == trigger_id)
    view: dict[str, Any] = opened.response["view"]
    assert view["callback_id"] == CallbackId.NOTE_MODAL
    return view


def _submit(local: Local, user: str, view: dict[str, Any], note: str | None, confirm: str | None = None) -> Response:
    values = {BlockId.NOTE: {ActionId.NOTE: plain_text_value(note)}}
    if confirm is not None:
        values[BlockId.CONFIRM] = {ActionId.CONFIRM: plain_text_value(confirm)}
    return local.driver.view_submission(user, view, values)


def test_a_note_is_recorded_with_the_approval_and_shown_on_the_request(local: Local) -> None:
    approval = local.start_run("Refund order #901 for $250")

    submitted = _submit(local, "U0NOTE1", _open_note_modal(local, "U0NOTE1", approval), "Checked the photo; parcel crushed.")

    assert submitted.status == 200 and not submitted.body  # the modal closes
    update = local.wait_for_update(approval)
    assert "*Approved* by <@U0NOTE1>" in str(update.params["blocks"])
    assert ": “Checked the photo; parcel crushed.”" in str(update.params["blocks"])
    decided = local.store.requests.get(approval.id)
    assert decided.status is Status.APPROVED and decided.action.decision is not None
    assert (decided.action.decision.type, decided.action.decision.message) == (
        DecisionType.APPROVE,
        "Checked the photo; parcel crushed.",
    )
    assert "Refunded $250.00 for order #901" in local.outcome(approval)


def test_the_note_is_in_the_audit_log(local: Local) -> None:
    approval = local.start_run("Refund order #902 for $250")

    _submit(local, "U0NOTE2", _open_note_modal(local, "U0NOTE2", approval), "Customer is a regular")

    decided = [e for e in local.store.audit_log.audit_events(approval.id) if e.event == "decided"]
    assert [(e.actor, e.detail["type"], e.detail["message"]) for e in decided] == [
        ("U0NOTE2", "approve", "Customer is a regular")
    ]


def test_an_empty_note_is_an_inline_error_and_decides_nothing(local: Local) -> None:
    approval = local.start_run("Refund order #903 for $250")

    submitted = _submit(local, "U0NOTE3", _open_note_modal(local, "U0NOTE3", approval), "   ")

    assert submitted.json() == {
        "response_action": "errors",
        "errors": {BlockId.NOTE: "Write a note, or close this and use Approve."},
    }
    assert local.store.requests.get(approval.id).is_pending


def test_a_manual_calls_note_modal_asks_for_confirm_too(local: Local) -> None:
    local.policies(CAREFUL_REFUNDS)
    approval = local.start_run("Refund order #904 for $666")
    view = _open_note_modal(local, "U0NOTE4", approval)
    assert BlockId.CONFIRM in [b.get("block_id") for b in view["blocks"]]

    unconfirmed = _submit(local, "U0NOTE4", view, "Board approved it", confirm="confirm")
    assert unconfirmed.json()["errors"] == {BlockId.CONFIRM: "Type CONFIRM (in capitals) to approve."}
    assert local.store.requests.get(approval.id).is_pending

    confirmed = _submit(local, "U0NOTE4", view, "Board approved it", confirm="CONFIRM")
    assert confirmed.status == 200 and not confirmed.body
    decision = local.store.requests.get(approval.id).action.decision
    assert decision is not None and decision.message == "Board approved it"


def test_a_note_submitted_after_someone_else_decided_is_an_inline_error(local: Local) -> None:
    approval = local.start_run("Refund order #905 for $250")
    view = _open_note_modal(local, "U0NOTE5", approval)
    local.click("U0NOTE6", ActionId.APPROVE, approval)

    submitted = _submit(local, "U0NOTE5", view, "Too late")

    error = submitted.json()["errors"][BlockId.NOTE]
    assert error.startswith("Nothing changed: :white_check_mark: *Approved* by <@U0NOTE6>")
    decision = local.store.requests.get(approval.id).action.decision
    assert decision is not None and decision.decided_by == "U0NOTE6" and decision.message is None


def test_countersigns_own_gate_hands_the_note_to_the_agent(local: Local) -> None:
    approval = local.start_run("Refund order #906 for $250", agent="gate_when")

    _submit(local, "U0NOTE7", _open_note_modal(local, "U0NOTE7", approval), "Goodwill: refund in full")

    answer = local.outcome(approval)
    assert "Refunded $250.00 for order #906" in answer
    assert "The person who approved this call noted: Goodwill: refund in full" in answer


def test_langchains_middleware_has_no_place_for_the_note_and_is_resumed_as_usual(local: Local) -> None:
    approval = local.start_run("Refund order #907 for $250")  # HumanInTheLoopMiddleware: ApproveDecision has no message

    _submit(local, "U0NOTE8", _open_note_modal(local, "U0NOTE8", approval), "Fine by me")

    answer = local.outcome(approval)
    assert "Refunded $250.00 for order #907" in answer and "Fine by me" not in answer


def test_each_approvers_note_toward_a_quorum_is_in_the_audit_log(local: Local) -> None:
    local.policies(TWO_PERSON_REFUNDS)
    approval = local.start_run("Refund order #908 for $10000")

    _submit(local, "U0NOTE9", _open_note_modal(local, "U0NOTE9", approval), "First look: fine", confirm="CONFIRM")
    _submit(local, "U0NOTEA", _open_note_modal(local, "U0NOTEA", approval), "Second look: fine", confirm="CONFIRM")

    events = local.store.audit_log.audit_events(approval.id)
    assert [(e.event, e.actor, e.detail.get("message")) for e in events if e.event in ("voted", "decided")] == [
        ("voted", "U0NOTE9", "First look: fine"),
        ("voted", "U0NOTEA", "Second look: fine"),
        ("decided", "U0NOTEA", "Second look: fine"),
    ]


def test_the_note_modal_is_valid_block_kit_and_its_approval_line_quotes_the_note() -> None:
    pending = stored_request()
    valid_modal(note_modal(pending))
    noted = stored_request(
        status=Status.APPROVED, decision=Decision(type=DecisionType.APPROVE, decided_by="U0X", message="a <b>")
    )
    assert decision_line(noted).endswith(": “a &lt;b&gt;”")


def test_approve_with_note_from_the_home_tab_redraws_the_tab(local: Local) -> None:
    approval = local.start_run("Refund order #909 for $250", user="U0NOTEASKER")
    home = local.home_showing("U0NOTEB", approval.id)
    menu = next(
        e
        for b in home["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "overflow" and approval.id in str(e["options"])
    )
    option = next(o["value"] for o in menu["options"] if o["value"].startswith(f"{More.NOTE.value} "))
    click = local.driver.view_action("U0NOTEB", ActionId.MORE, option, view=home)
    assert click.payload is not None
    opened = local.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == click.payload["trigger_id"])

    _submit(local, "U0NOTEB", opened.response["view"], "Approved from Home")

    assert "Refunded $250.00 for order #909" in local.outcome(approval)
    decision = local.store.requests.get(approval.id).action.decision
    assert decision is not None and decision.message == "Approved from Home"
    local.slack.wait_for(
        "views.publish", lambda c: c.params.get("user_id") == "U0NOTEB" and approval.id not in str(c.params["view"]), timeout=10
    )
