"""Several tool calls in one interrupt: one message, a section and buttons per action, and "Approve all"."""

from __future__ import annotations

from approvals.models import ApprovalRequest
from bot.ids import ActionId, BlockId
from sandbox.driver import plain_text_value
from tests.local import Local


def _button_sets(local: Local, approval: ApprovalRequest) -> dict[str, list[str]]:
    blocks = local.message(approval)["blocks"]
    return {
        b["block_id"]: [e["action_id"] for e in b["elements"] if e["type"] == "button"] for b in blocks if b["type"] == "actions"
    }


def test_one_message_has_buttons_per_action_and_approve_all(local: Local) -> None:
    approval = local.start_run("Refund #150 and #151, $10 each", agent="batch_refunds")

    assert [a.args["order_id"] for a in approval.actions] == ["150", "151"]
    assert _button_sets(local, approval) == {
        f"{BlockId.DECISION_BUTTONS}:0": [ActionId.APPROVE, ActionId.EDIT, ActionId.RESPOND, ActionId.REJECT],
        f"{BlockId.DECISION_BUTTONS}:1": [ActionId.APPROVE, ActionId.EDIT, ActionId.RESPOND, ActionId.REJECT],
        BlockId.REQUEST_BUTTONS: [ActionId.APPROVE_ALL],
    }


def test_approve_all_runs_every_call(local: Local) -> None:
    approval = local.start_run("Refund #152 and #153, $10 each", agent="batch_refunds")

    local.click("U0APPROVER", ActionId.APPROVE_ALL, approval)

    outcome = local.outcome(approval)
    assert "Refunded $10.00 for order #152" in outcome and "Refunded $10.00 for order #153" in outcome


def test_run_waits_until_every_action_is_decided(local: Local) -> None:
    approval = local.start_run("Refund #154 and #155, $10 each", agent="batch_refunds")

    local.click("U0APPROVER", ActionId.APPROVE, approval, 0)

    update = local.wait_for_update(approval)
    assert list(_button_sets(local, approval)) == [f"{BlockId.DECISION_BUTTONS}:1"]
    assert "Approved* by <@U0APPROVER>" in str(update.params["blocks"])
    current = local.store.requests.get(approval.id)
    assert current.is_pending and current.resumed_at is None


def test_decisions_reach_the_agent_in_the_order_of_the_actions(local: Local) -> None:
    approval = local.start_run("Refund #156 and #157, $10 each", agent="batch_refunds")
    reject = local.click("U0APPROVER", ActionId.REJECT, approval, 0)
    view = local.slack.wait_for("views.open", lambda c: c.params["trigger_id"] == reject.payload["trigger_id"])

    local.driver.view_submission(
        "U0APPROVER", view.response["view"], {BlockId.REJECT_REASON: {ActionId.REJECT_REASON: plain_text_value("dupe")}}
    )
    local.wait_for_update(approval)
    local.click("U0APPROVER2", ActionId.APPROVE, approval, 1)

    outcome = local.outcome(approval)
    rejected, refunded = outcome.index("with reason: dupe"), outcome.index("Refunded $10.00 for order #157")
    assert rejected < refunded
    assert "Refunded $10.00 for order #156" not in outcome
    assert local.store.requests.get(approval.id).status == "decided"


def test_click_on_an_action_someone_already_decided_changes_nothing(local: Local) -> None:
    approval = local.start_run("Refund #158 and #159, $10 each", agent="batch_refunds")
    local.click("U0FIRST", ActionId.APPROVE, approval, 0)
    local.wait_for_update(approval)

    local.click("U0SECONDCLICK", ActionId.APPROVE, approval, 0)

    assert "Approved* by <@U0FIRST>" in local.ephemeral_to("U0SECONDCLICK")[0]
    assert local.store.requests.get(approval.id).actions[1].decision is None


def test_per_call_requests_of_one_turn_do_not_list_each_other_as_earlier_steps(local: Local) -> None:
    first = local.start_run("Refund #160 and #161, $10 each", agent="batch_refunds_per_call")
    second = local.wait_for_request(first.thread_id, count=2)

    for approval in (first, second):
        assert "Earlier steps of this run" not in str(local.message(approval)["blocks"])

    local.click("U0APPROVER", ActionId.APPROVE, first)
    local.click("U0APPROVER", ActionId.APPROVE, second)
    assert "Refunded $10.00 for order #160" in local.outcome(first)
