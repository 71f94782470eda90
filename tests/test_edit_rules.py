"""An edit is judged again, as a new proposal: under the call's own rule it decides as before; under
another rule it does not decide, and the call waits for that rule's deciders, its editor counted as a
proposer."""

from __future__ import annotations

from datetime import timedelta

from approvals.frontend import RequestChanged
from approvals.models import ApprovalRequest, DecisionType
from approvals.policies import Rule
from bot.ids import ActionId, BlockId
from bot.metadata import ApprovalRef
from bot.slack_places import SlackPlaces
from sandbox.driver import Response, number_value, plain_text_value
from tests.local import Local
from tests.policies import FINANCE_REFUNDS, SELF_SERVICE_REFUNDS, SOFT_REFUNDS, TWO_PERSON_REFUNDS
from tests.stack import Stack, wait_until


def _amount_values(order_id: str, amount: str) -> dict:
    """The edit modal's values with `amount` typed in (the reason too)."""
    return {
        BlockId.for_arg("order_id"): {ActionId.ARG_VALUE: plain_text_value(order_id)},
        BlockId.for_arg("amount"): {ActionId.ARG_VALUE: number_value(amount)},
        BlockId.for_arg("reason"): {ActionId.ARG_VALUE: plain_text_value("edited")},
    }


def _edit_amount(who: Local | Stack, user: str, approval: ApprovalRequest, amount: str) -> Response:
    view = who.open_modal(user, ActionId.EDIT, approval).response["view"]
    return who.driver.view_submission(user, view, _amount_values(str(approval.action.args["order_id"]), amount))


def _confirm(who: Local | Stack, user: str, approval: ApprovalRequest) -> Response:
    view = who.open_modal(user, ActionId.APPROVE, approval).response["view"]
    return who.driver.view_submission(user, view, {BlockId.CONFIRM: {ActionId.CONFIRM: plain_text_value("CONFIRM")}})


def test_a_requester_editing_their_self_service_refund_into_a_big_one_does_not_decide_it(local: Local) -> None:
    local.policies(SELF_SERVICE_REFUNDS, TWO_PERSON_REFUNDS)
    approval = local.start_run("Refund order #9101 for $7", user="U0SELF9101")

    submitted = _edit_amount(local, "U0SELF9101", approval, "50000")

    assert submitted.status == 200 and not submitted.body  # the modal closes: the edit was taken, as a proposal
    now = local.store.requests.get(approval.id)
    assert now.is_pending and now.action.decision is None
    assert now.action.proposed_args == {"order_id": "9101", "amount": 50000, "reason": "edited"}
    assert (now.gate_of(0).rule, now.gate_of(0).quorum) == ("two-person refunds", 2)
    assert "did not decide it" in local.ephemeral_to("U0SELF9101")[0]
    assert any(e.event == "reproposed" and e.actor == "U0SELF9101" for e in local.store.audit_log.audit_events(approval.id))


def test_the_editor_of_a_reproposed_call_cannot_approve_it(local: Local) -> None:
    local.policies(SELF_SERVICE_REFUNDS, TWO_PERSON_REFUNDS)
    approval = local.start_run("Refund order #9102 for $7", user="U0SELF9102")
    _edit_amount(local, "U0SELF9102", approval, "50000")

    local.click("U0SELF9102", ActionId.APPROVE, local.store.requests.get(approval.id))

    assert "Nothing changed" in local.ephemeral_to("U0SELF9102", count=2)[-1]
    assert local.store.requests.get(approval.id).is_pending


def test_a_reproposed_call_runs_with_the_edited_arguments_once_its_new_rule_is_satisfied(local: Local) -> None:
    local.policies(SELF_SERVICE_REFUNDS, TWO_PERSON_REFUNDS)
    approval = local.start_run("Refund order #9103 for $7", user="U0SELF9103")
    _edit_amount(local, "U0SELF9103", approval, "50000")

    _confirm(local, "U0APPROVER", local.store.requests.get(approval.id))
    assert local.store.requests.get(approval.id).is_pending  # one of two
    _confirm(local, "U0APPROVER2", local.store.requests.get(approval.id))

    assert "Refunded $50000.00 for order #9103" in local.outcome(approval)
    decided = local.store.requests.get(approval.id).action.decision
    assert (
        decided is not None
        and decided.type is DecisionType.EDIT
        and decided.edited_args
        == {
            "order_id": "9103",
            "amount": 50000,
            "reason": "edited",
        }
    )


def test_an_edit_that_stays_under_the_calls_rule_decides_as_before(local: Local) -> None:
    local.policies(SELF_SERVICE_REFUNDS, TWO_PERSON_REFUNDS)
    approval = local.start_run("Refund order #9104 for $250")

    _edit_amount(local, "U0APPROVER", approval, "200")

    assert "Refunded $200.00 for order #9104" in local.outcome(approval)


def test_the_message_shows_a_reproposed_call_with_its_new_rule_and_editor(local: Local) -> None:
    local.policies(SELF_SERVICE_REFUNDS, TWO_PERSON_REFUNDS)
    approval = local.start_run("Refund order #9105 for $7", user="U0SELF9105")

    _edit_amount(local, "U0SELF9105", approval, "50000")

    update = local.wait_for_update(approval, lambda call: "edited these arguments" in str(call.params.get("blocks")))
    text = str(update.params["blocks"])
    assert "<@U0SELF9105> edited these arguments" in text and "Rule _two-person refunds_" in text


def test_a_self_service_edit_into_a_big_refund_through_the_real_processes_waits_for_two_people(stack: Stack) -> None:
    # tests/policies.yml: `amount == 7` self-service, `amount >= 10000` manual with a quorum of two.
    approval = stack.start_run("Refund order #9106 for $7", user="U0SELF9106")

    _edit_amount(stack, "U0SELF9106", approval, "50000")
    assert "did not decide it" in stack.ephemeral_to("U0SELF9106")[0]
    _confirm(stack, "U0APPROVER", stack.store.requests.get(approval.id))
    _confirm(stack, "U0APPROVER2", stack.store.requests.get(approval.id))

    assert "Refunded $50000.00 for order #9106" in stack.outcome(approval)


def test_a_click_on_the_request_as_it_was_before_an_edit_reproposed_it_decides_nothing(local: Local) -> None:
    local.policies(SELF_SERVICE_REFUNDS, TWO_PERSON_REFUNDS)
    shown = local.start_run("Refund order #9107 for $7", user="U0SELF9107")
    _edit_amount(local, "U0SELF9107", shown, "50000")

    local.click("U0STALE9107", ActionId.APPROVE, shown)  # the button as it was drawn before the edit

    assert "edited into another rule's since you looked" in local.ephemeral_to("U0STALE9107")[0]
    now = local.store.requests.get(shown.id)
    assert now.is_pending and now.action.decision is None and now.action.votes == []


def test_a_call_reproposed_under_a_rule_with_its_own_channel_is_announced_there(local: Local) -> None:
    local.policies(SELF_SERVICE_REFUNDS, FINANCE_REFUNDS)
    approval = local.start_run("Refund order #9108 for $7", user="U0SELF9108")

    _edit_amount(local, "U0SELF9108", approval, "6000")

    pointer = local.slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("channel") == "C0FINANCE" and "<@U0SELF9108>" in str(c.params.get("text"))
    )
    assert "`refund`, edited by <@U0SELF9108>, waits for a decision under rule _finance refunds_" in pointer.params["text"]
    assert local.store.requests.get(approval.id).gate_of(0).approvers == ["U0CFO", "@finance"]


def _type_amount(view: dict, order_id: str, amount: str) -> dict:
    """The modal as Slack holds it once `amount` is typed in its amount field (the others as prefilled)."""
    values = {
        BlockId.for_arg("order_id"): {ActionId.ARG_VALUE: plain_text_value(order_id)},
        BlockId.for_arg("amount"): {ActionId.ARG_VALUE: number_value(amount)},
        BlockId.for_arg("reason"): {ActionId.ARG_VALUE: plain_text_value("asked")},
    }
    return {**view, "state": {"values": values}}


def test_the_edit_modal_says_when_typed_values_fall_under_another_rule_before_it_is_submitted(local: Local) -> None:
    local.policies(SELF_SERVICE_REFUNDS, TWO_PERSON_REFUNDS)
    approval = local.start_run("Refund order #9109 for $7", user="U0SELF9109")
    view = local.open_modal("U0SELF9109", ActionId.EDIT, approval).response["view"]

    local.driver.view_action("U0SELF9109", ActionId.ARG_VALUE, "50000", view=_type_amount(view, "9109", "50000"))

    updated = local.slack.wait_for("views.update", lambda c: c.params.get("view_id") == view["id"]).params["view"]
    assert "fall under rule _two-person refunds_" in str(updated["blocks"]) and "decides nothing" in str(updated["blocks"])
    assert local.store.requests.get(approval.id).is_pending


def test_the_edit_modal_says_values_that_stay_under_the_calls_rule_decide_it(local: Local) -> None:
    local.policies(SELF_SERVICE_REFUNDS, TWO_PERSON_REFUNDS)
    approval = local.start_run("Refund order #9110 for $250")
    view = local.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]

    local.driver.view_action("U0APPROVER", ActionId.ARG_VALUE, "200", view=_type_amount(view, "9110", "200"))

    updated = local.slack.wait_for("views.update", lambda c: c.params.get("view_id") == view["id"]).params["view"]
    assert "stay under rule _default (no rule matched)_: submitting decides the call" in str(updated["blocks"])


def test_a_call_reproposed_under_a_soft_rule_that_goes_ahead_at_its_deadline_runs_the_edited_arguments(local: Local) -> None:
    # The $250 refund's own rule (none: hard) never goes ahead unattended; the edited $3 one's (soft) does.
    local.policies(SOFT_REFUNDS)
    approval = local.start_run("Refund order #9111 for $250", user="U0REQ9111")
    _edit_amount(local, "U0APPROVER", approval, "3")
    deadline = local.store.requests.get(approval.id).deadline_at
    assert deadline is not None

    local.fire_due(deadline + timedelta(seconds=1))

    assert "Refunded $3.00 for order #9111" in local.outcome(approval)
    assert "Refunded $250.00" not in local.outcome(approval)


def _dm_refunds(amount: int) -> Rule:
    """Refunds of exactly `amount`, sent by DM to their one approver, `U0DMCFO<amount>`."""
    return Rule(
        name="dm refunds",
        agent="payments",
        tool="refund",
        when=f"amount == {amount}",
        approvers=[f"U0DMCFO{amount}"],
        notify="dm",
    )


def test_a_call_reproposed_under_a_rule_that_sends_dms_reaches_that_rules_approvers_by_dm(local: Local) -> None:
    local.policies(SELF_SERVICE_REFUNDS, _dm_refunds(9110))
    approval = local.start_run("Refund order #9110 for $7", user="U0SELF9110")

    _edit_amount(local, "U0SELF9110", approval, "9110")

    dm = wait_until(lambda: SlackPlaces(local.store).dms(approval.id).get("U0DMCFO9110"), 10, "the new rule's approver's DM")
    assert local.slack.dm_user(dm.channel) == "U0DMCFO9110"
    message = str(local.slack.message(dm.channel, dm.ts)["blocks"])
    assert "Approve" in message and "<@U0SELF9110> edited these arguments" in message
    line = wait_until(
        lambda: "Sent by DM to <@U0DMCFO9110>" in str(local.message(approval)["blocks"]) and local.message(approval),
        10,
        "the channel post to say who has it",
    )
    assert "Sent by DM to <@U0DMCFO9110>, who decide it there" in str(line) and "countersign.approve" not in str(line)


def test_the_approver_a_reproposed_call_reached_by_dm_decides_it_there_and_is_sent_it_once(local: Local) -> None:
    local.policies(SELF_SERVICE_REFUNDS, _dm_refunds(9111))
    approval = local.start_run("Refund order #9111 for $7", user="U0SELF9111")
    _edit_amount(local, "U0SELF9111", approval, "9111")
    wait_until(lambda: SlackPlaces(local.store).dms(approval.id).get("U0DMCFO9111"), 10, "the new rule's approver's DM")
    pending = local.store.requests.get(approval.id)
    # Redrawn again while it waits, as any later change redraws it: the approver has it already.
    local.runtime.front_end.tell(RequestChanged(approval=pending, earlier=local.store.lists.decided_before(pending)))

    from tests.test_direct_messages import click_in_dm  # (it imports this module's helpers)

    click_in_dm(local, "U0DMCFO9111", ActionId.APPROVE, local.store.requests.get(approval.id))

    assert "Refunded $9111.00 for order #9111" in local.outcome(approval)
    dm_channel = SlackPlaces(local.store).dms(approval.id)["U0DMCFO9111"].channel
    requests_sent = [
        c for c in local.slack.calls_to("chat.postMessage") if c.params.get("channel") == dm_channel and c.params.get("blocks")
    ]
    assert len(requests_sent) == 1


def test_a_call_edited_in_a_dm_into_a_rule_decided_in_the_channel_gets_its_buttons_back_there(local: Local) -> None:
    local.policies(SELF_SERVICE_REFUNDS, _dm_refunds(9112))
    approval = local.start_run("Refund order #9112 for $9112", user="U0ASK9112")
    assert "countersign.approve" not in str(local.message(approval)["blocks"])  # the short line: decided by DM
    dm = wait_until(lambda: SlackPlaces(local.store).dms(approval.id).get("U0DMCFO9112"), 10, "the approver's DM")

    # The approver edits it in their DM down to $7: the self-service rule's, whose deciders are the channel's members.
    clicked = local.driver.block_action(
        "U0DMCFO9112",
        ActionId.EDIT,
        ApprovalRef(approval_id=approval.id, rev=approval.revision).dump(),
        channel_id=dm.channel,
        container_message_ts=dm.ts,
        message=local.slack.message(dm.channel, dm.ts),
    )
    trigger = clicked.payload["trigger_id"] if clicked.payload else None
    view = local.slack.wait_for("views.open", lambda call: call.params.get("trigger_id") == trigger).params["view"]
    local.driver.view_submission("U0DMCFO9112", view, _amount_values("9112", "7"))

    wait_until(lambda: local.store.requests.get(approval.id).gate_of(0).rule == "self-service refunds", 10, "the re-proposal")
    post = wait_until(
        lambda: "countersign.approve" in str(local.message(approval)["blocks"]) and local.message(approval), 10, "buttons"
    )
    assert "Rule _self-service refunds_" in str(post["blocks"])
