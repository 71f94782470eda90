"""Approve: the tool runs with the proposed arguments and the agent's answer lands in the thread."""

from __future__ import annotations

from bot.ids import ActionId
from tests.local import Local


def test_approve_runs_the_tool_and_posts_the_answer_in_the_thread(local: Local) -> None:
    approval = local.start_run("Refund order #42 for $250")

    response = local.click("U0APPROVER", ActionId.APPROVE, approval)

    assert response.status == 200
    assert "Refunded $250.00 for order #42" in local.outcome(approval)


def test_approved_message_loses_its_buttons_and_names_the_approver(local: Local) -> None:
    approval = local.start_run("Refund order #43 for $20")

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    update = local.wait_for_update(approval)
    blocks = update.params["blocks"]
    assert not [b for b in blocks if b["type"] == "actions"]
    assert any("Approved* by <@U0APPROVER>" in str(b) for b in blocks)
    decided = local.store.get(approval.id)
    assert decided.status == "approved" and decided.action.decision and decided.action.decision.decided_by == "U0APPROVER"
