"""A decision is drawn on the request's messages once, by whichever comes first of the bot (after its click's ack)
and the worker that delivers it (as its job ends: the net for a bot that died between the ack and the draw); and a
draw of a pending state that lands after the decision's is drawn over."""

from __future__ import annotations

from typing import Any

import pytest

from approvals.deciding import Deciding
from approvals.frontend import RequestChanged
from approvals.models import ApprovalRequest, Decision, DecisionType
from bot.ids import ActionId
from bot.slack_front_end import slack_front_end
from bot.slack_places import SlackPlaces
from sandbox.emulator import Call
from tests.local import Local
from tests.policies import TWO_PERSON_REFUNDS
from tests.stack import wait_until


def _updates(local: Local, approval: ApprovalRequest) -> list[Call]:
    return [c for c in local.slack.calls_to("chat.update") if c.params.get("ts") == local.ts_of(approval)]


def _shown_decision(local: Local, approval: ApprovalRequest) -> str | None:
    return SlackPlaces(local.store).shown(approval).decision


def test_a_decision_the_bot_drew_is_not_drawn_again_by_the_worker_that_delivers_it(local: Local) -> None:
    approval = local.start_run("Refund order #901 for $70", agent="payments_effects")

    with local.paused():
        local.click("U0APPROVER", ActionId.APPROVE, approval)
        wait_until(lambda: _shown_decision(local, approval) == "approved", 10, "the bot to draw the decision")
        local.work()

    assert "Refunded $70.00 for order #901" in local.outcome(approval)
    updates = _updates(local, approval)
    assert len(updates) == 1 and "Approved* by <@U0APPROVER>" in str(updates[0].params["blocks"])


def test_a_decision_no_bot_drew_is_drawn_by_the_worker_that_delivers_it(local: Local) -> None:
    approval = local.start_run("Refund order #902 for $70", agent="payments_effects")

    with local.paused():  # decided as by a bot that died after committing it, before drawing it
        local.store.decisions.decide(approval.id, Decision(type=DecisionType.APPROVE, decided_by="U0APPROVER"))
        local.work()

    assert "Refunded $70.00 for order #902" in local.outcome(approval)
    assert "Approved* by <@U0APPROVER>" in str(local.message(approval)["blocks"])
    assert _shown_decision(local, approval) == "approved"


def test_a_decision_the_worker_drew_first_is_not_drawn_again_by_the_bot(local: Local) -> None:
    approval = local.start_run("Refund order #904 for $70", agent="payments_effects")
    with local.paused():  # decided by a bot whose draw comes after the worker's job (a burst holds it back)
        local.store.decisions.decide(approval.id, Decision(type=DecisionType.APPROVE, decided_by="U0APPROVER"))
        local.work()
    assert "Refunded $70.00 for order #904" in local.outcome(approval)
    drawn = len(_updates(local, approval))

    Deciding(local.store, local.queue, front_end=slack_front_end(local.settings, local.store)).announce(approval.id)

    assert len(_updates(local, approval)) == drawn == 1


def test_a_pending_draw_that_lands_after_the_decision_is_drawn_over(local: Local, monkeypatch: pytest.MonkeyPatch) -> None:
    local.policies(TWO_PERSON_REFUNDS)
    approval = local.start_run("Refund order #903 for $10000")
    with local.paused():
        first = local.store.decisions.decide(
            approval.id, Decision(type=DecisionType.APPROVE, decided_by="U0FIRST"), quorum=2
        ).approval
        slow, other = slack_front_end(local.settings, local.store), slack_front_end(local.settings, local.store)
        draw = slow.notifier.update_request

        def overtaken(pending: ApprovalRequest, *args: Any, **kwargs: Any) -> Any:
            # While this process draws "1 of 2", the second approval is recorded and drawn by another process first.
            if pending.is_pending:
                second = local.store.decisions.decide(
                    approval.id, Decision(type=DecisionType.APPROVE, decided_by="U0SECOND"), quorum=2
                ).approval
                other.tell(RequestChanged(approval=second, earlier=local.store.lists.decided_before(second)))
            return draw(pending, *args, **kwargs)

        monkeypatch.setattr(slow.notifier, "update_request", overtaken)
        slow.tell(RequestChanged(approval=first, earlier=local.store.lists.decided_before(first)))

        last = _updates(local, approval)[-1]
        assert "Approved* by <@U0FIRST>, <@U0SECOND>" in str(last.params["blocks"])
        local.work()
