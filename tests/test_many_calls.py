"""Any number of calls in one interrupt is posted and decided: in full while it fits in a message (Slack
takes 50 blocks), as rows past that, with Approve all, Reject all and a paginated modal of every call."""

from __future__ import annotations

import pytest

from approvals.models import ApprovalRequest
from bot.ids import ActionId, BlockId, CallbackId
from bot.metadata import ApprovalRef
from sandbox.driver import plain_text_value
from tests.local import Local
from tests.stack import Stack, wait_until


def _request(count: int, first: int) -> str:
    return "Refund " + " ".join(f"#{first + n}" for n in range(count)) + ", $10 each"


def _buttons(local: Local, approval: ApprovalRequest) -> list[str]:
    return [
        e["text"]["text"]
        for b in local.message(approval)["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    ]


@pytest.mark.parametrize(("count", "compact"), [(1, False), (9, False), (20, True), (60, True)])
def test_any_number_of_calls_is_posted_within_slacks_limits(local: Local, count: int, compact: bool) -> None:
    approval = local.start_run(_request(count, 400 + 100 * count), agent="batch_refunds")

    message = local.message(approval)
    assert len(approval.actions) == count and len(message["blocks"]) <= 50
    assert ("View all calls" in _buttons(local, approval)) is compact
    if compact:
        assert f"*{count} calls* ({count} waiting)" in str(message["blocks"])
        assert f"Approve all {count}" in _buttons(local, approval) and f"Reject all {count}" in _buttons(local, approval)


def test_approve_all_runs_sixty_calls_through_the_real_processes(stack: Stack) -> None:
    approval = stack.start_run(_request(60, 9000), agent="batch_refunds")

    stack.click("U0APPROVER", ActionId.APPROVE_ALL, approval)

    outcome = stack.outcome(approval)
    assert outcome.count("Refunded $10.00") == 60


def test_view_all_calls_pages_through_them_and_decides_one(local: Local) -> None:
    approval = local.start_run(_request(45, 9100), agent="batch_refunds")
    opened = local.open_modal("U0APPROVER", ActionId.VIEW_CALLS, approval).response["view"]
    assert opened["callback_id"] == CallbackId.CALLS_MODAL and "page 1 of 3" in str(opened["blocks"])

    nav = next(e for b in opened["blocks"] if b.get("block_id") == BlockId.CALLS_PAGES for e in b["elements"])
    local.driver.view_action("U0APPROVER", ActionId.CALLS_PAGE, nav["value"], view=opened)
    page_two = local.slack.wait_for("views.update", lambda c: c.params.get("view_id") == opened["id"]).params["view"]
    assert "Calls 21–40 of 45 (page 2 of 3)" in str(page_two["blocks"])

    # Reject call #25 from the modal: its reason form opens on top; the page is redrawn after.
    reject = next(
        e
        for b in page_two["blocks"]
        if b.get("block_id") == f"{BlockId.DECISION_BUTTONS}:24"
        for e in b["elements"]
        if e["action_id"] == ActionId.REJECT
    )
    click = local.driver.view_action("U0APPROVER", ActionId.REJECT, reject["value"], view={**page_two, "id": opened["id"]})
    pushed = local.slack.wait_for("views.push", lambda c: c.params.get("trigger_id") == click.payload["trigger_id"])
    form = {**pushed.response["view"], "previous_view_id": opened["id"]}
    local.driver.view_submission(
        "U0APPROVER", form, {BlockId.REJECT_REASON: {ActionId.REJECT_REASON: plain_text_value("Duplicate")}}
    )

    decided = wait_until(lambda: (a := local.store.requests.get(approval.id)).actions[24].decision and a, 10, "call 25 decided")
    assert decided.actions[24].decision.type == "reject" and decided.actions[23].decision is None
    local.slack.wait_for(
        "views.update", lambda c: c.params.get("view_id") == opened["id"] and "Rejected" in str(c.params["view"]["blocks"])
    )
    assert ApprovalRef.load(reject["value"]).action == 24
