"""Static breakpoints (`interrupt_before=[node]`): mixed decisions tell the model why a call did not run,
and a breakpoint before a plain node shows what it will act on and can be rejected cleanly."""

from __future__ import annotations

from approvals.models import ApprovalRequest
from bot.ids import ActionId, BlockId
from bot.metadata import ApprovalRef
from sandbox.driver import plain_text_value
from tests.local import Local


def _decide(local: Local, user: str, action: ActionId, approval: ApprovalRequest, position: int) -> str:
    """Click one action's button; returns the click's trigger id (a modal it opens carries it)."""
    assert approval.channel and approval.message_ts
    response = local.driver.block_action(
        user,
        action,
        ApprovalRef(approval_id=approval.id, action=position).dump(),
        channel_id=approval.channel,
        container_message_ts=approval.message_ts,
        message=local.message(approval),
    )
    assert response.status == 200 and response.payload
    return str(response.payload["trigger_id"])


def test_breakpoint_with_one_call_approved_and_one_rejected_runs_one_and_tells_the_model_why_not(local: Local) -> None:
    approval = local.start_run("Refund #401 and #402, $30 each", agent="breakpoint_batch")
    assert [a.args["order_id"] for a in approval.actions] == ["401", "402"]

    _decide(local, "U0APPROVER", ActionId.APPROVE, approval, 0)
    trigger = _decide(local, "U0APPROVER", ActionId.REJECT, approval, 1)
    view = local.slack.wait_for("views.open", lambda call: call.params.get("trigger_id") == trigger).response["view"]
    local.driver.view_submission(
        "U0APPROVER", view, {BlockId.REJECT_REASON: {ActionId.REJECT_REASON: plain_text_value("Duplicate of #401")}}
    )

    outcome = local.outcome(approval)
    assert "Refunded $30.00 for order #401" in outcome
    assert "Not run: Duplicate of #401" in outcome  # what the model read for the rejected call
    assert local.refunds_of("401") == 1 and local.refunds_of("402") == 0


def test_breakpoint_before_a_plain_node_shows_the_state_it_will_act_on(local: Local) -> None:
    approval = local.start_run("our service is back", agent="announcements")

    assert approval.kind == "breakpoint" and approval.action.tool == "send"
    assert approval.action.args == {"to": "all@customers.example", "draft": "Dear customers, our service is back."}
    text = str(local.message(approval)["blocks"])
    assert "Dear customers, our service is back." in text and "No arguments" not in text


def test_rejecting_a_plain_node_skips_it_tells_the_thread_and_ends_the_run(local: Local) -> None:
    approval = local.start_run("we are down again", agent="announcements")
    sent_before = len(local.effects_of("emails"))

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Legal has not signed off")

    notice = local.slack.wait_for(
        "chat.postMessage",
        lambda call: call.params.get("thread_ts") == approval.message_ts and call.params["text"].startswith(":no_entry:"),
        timeout=20,
    )
    assert notice.params["text"] == ":no_entry: `send` did not run: <@U0APPROVER> rejected it: Legal has not signed off"
    local.outcome(approval)
    assert local.store.get_run(approval.thread_id).status == "done"
    assert len(local.effects_of("emails")) == sent_before


def test_approving_a_plain_node_runs_it(local: Local) -> None:
    approval = local.start_run("maintenance on Sunday", agent="announcements")

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Sent to all@customers.example." in local.outcome(approval)
