"""Policies decide who may approve: approvers and user groups, no self-approval, and calls that need nobody."""

from __future__ import annotations

from approvals.runs import RunRequest, start_run
from bot.ids import ActionId
from tests.local import Local
from tests.policies import FINANCE_REFUNDS, SELF_SERVICE_REFUNDS, TINY_REFUNDS


def _refused(local: Local, approval_id: str) -> list:
    return [event for event in local.store.audit_log.audit_events(approval_id) if event.event == "click_refused"]


def test_call_the_policy_auto_approves_runs_without_asking_anyone(local: Local) -> None:
    local.policies(TINY_REFUNDS)
    request = RunRequest(agent="payments", input_text="Refund order #140 for $1", requested_by="U0ASKER", reply_channel="C0AUTO")

    start_run(request, local.store, local.queue)

    answer = local.slack.wait_for("chat.postMessage", lambda call: call.params.get("channel") == "C0AUTO")
    assert "Refunded $1.00 for order #140" in answer.params["text"]
    [approval] = local.store.lists.requests_for_thread(request.thread_id)
    assert local.posted(approval) is None
    assert approval.action.decision and approval.action.decision.decided_by == "countersign:policy"
    assert approval.gate.rule == "tiny refunds"


def test_request_goes_to_the_rules_channel(local: Local) -> None:
    local.policies(FINANCE_REFUNDS)
    approval = local.start_run("Refund order #141 for $5000")

    assert approval.channel == "C0FINANCE"


def test_click_from_someone_not_among_the_approvers_changes_nothing_and_is_audited(local: Local) -> None:
    local.policies(FINANCE_REFUNDS)
    approval = local.start_run("Refund order #142 for $5000")

    local.click("U0INTERN", ActionId.APPROVE, approval)

    assert "only <@U0CFO>, @finance may decide this request" in local.ephemeral_to("U0INTERN")[0]
    assert local.store.requests.get(approval.id).is_pending
    [refused] = _refused(local, approval.id)
    assert refused.actor == "U0INTERN" and refused.detail["intent"] == "approve"


def test_member_of_an_approver_user_group_may_approve(local: Local) -> None:
    local.policies(FINANCE_REFUNDS)
    local.slack.add_usergroup("finance", ["U0FINANCE1", "U0FINANCE2"])
    approval = local.start_run("Refund order #143 for $5000")

    local.click("U0FINANCE2", ActionId.APPROVE, approval)

    assert "Refunded $5000.00 for order #143" in local.outcome(approval)


def test_requester_cannot_approve_their_own_run(local: Local) -> None:
    approval = local.start_run("Refund order #144 for $250", user="U0SELFASK")

    local.click("U0SELFASK", ActionId.APPROVE, approval)

    assert "you asked for this run" in local.ephemeral_to("U0SELFASK")[0]
    assert local.store.requests.get(approval.id).is_pending
    assert len(_refused(local, approval.id)) == 1


def test_requester_cannot_open_the_edit_modal_either(local: Local) -> None:
    approval = local.start_run("Refund order #145 for $250", user="U0ASKER2")
    opened = len(local.slack.calls_to("views.open"))

    local.click("U0ASKER2", ActionId.EDIT, approval)

    assert "you asked for this run" in local.ephemeral_to("U0ASKER2")[0]
    assert len(local.slack.calls_to("views.open")) == opened


def test_rule_that_allows_self_approval_lets_the_requester_decide(local: Local) -> None:
    local.policies(SELF_SERVICE_REFUNDS)
    approval = local.start_run("Refund order #146 for $7", user="U0SELF")

    local.click("U0SELF", ActionId.APPROVE, approval)

    assert "Refunded $7.00 for order #146" in local.outcome(approval)


def test_request_message_says_who_may_decide_under_which_rule(local: Local) -> None:
    local.policies(FINANCE_REFUNDS)
    approval = local.start_run("Refund order #147 for $5000", user="U0ASKER")

    text = str(local.message(approval)["blocks"])

    assert "Rule _finance refunds_: <@U0CFO>, @finance but <@U0ASKER> may decide" in text
