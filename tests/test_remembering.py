"""Approvals that remember: "Approve, and for the rest of this run" (or "for 30m"), where a rule allows it, lets the
run's later calls of the same tool under the same rule go ahead, each naming the approval it rests on, and the
run's thread lists each. Through the real Bolt app, the emulator and the worker's runtime (tests/local.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.models.blocks import Block

from approvals.frontend import Notice
from approvals.models import (
    ApprovalRequest,
    Decision,
    DecisionType,
    ProposedAction,
    Remembered,
    Run,
    remembered_decider,
    utcnow,
)
from approvals.policies import Rule as PolicyRule
from bot.formatting import slack_date
from bot.ids import ActionId
from bot.metadata import ApprovalRef
from bot.more_menu import More, option_value
from bot.request_message import request_message
from bot.run_messages import notice_text
from sandbox.driver import Response
from tests.local import Local
from tests.policies import BOXED_REFUNDS, FORGETFUL_REFUNDS, LARGER_REFUNDS, REMEMBERED_REFUNDS
from tests.stack import wait_until

ALEX = "U0ALEXREM"


def _menu(local: Local, approval: ApprovalRequest) -> list[str]:
    """The labels of the ⋯ menu beside the request's buttons, as Slack holds the message now."""
    blocks = local.message(approval)["blocks"]
    menus = [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "overflow"]
    return [option["text"]["text"] for menu in menus for option in menu["options"]]


def _remember(local: Local, user: str, approval: ApprovalRequest) -> Response:
    """Choose "Approve, and for the rest of this run" (or "for 30m") in the request's ⋯ menu, as `user`."""
    posted = local.posted(approval)
    assert posted is not None
    ref = ApprovalRef(approval_id=approval.id, action=None, rev=approval.revision).dump()
    return local.driver.block_action(
        user,
        ActionId.MORE,
        option_value(More.REMEMBER, ref),
        channel_id=posted.channel,
        container_message_ts=posted.ts,
        message=local.message(approval),
        action_type="overflow",
    )


def _run(local: Local, text: str, agent: str = "serial_refunds") -> ApprovalRequest:
    return local.start_run(text, user="U0ASKREM", agent=agent)


def _request(local: Local, first: ApprovalRequest, count: int) -> ApprovalRequest:
    """The run's `count`-th request once stored (whether or not it was posted)."""

    def stored() -> ApprovalRequest | None:
        requests = local.store.lists.requests_for_thread(first.thread_id)
        return requests[count - 1] if len(requests) >= count else None

    return wait_until(stored, 20, f"request #{count} of run {first.thread_id}")


def _decided(local: Local, approval: ApprovalRequest) -> ApprovalRequest:
    """The request once every call of it is decided."""

    def decided() -> ApprovalRequest | None:
        current = local.store.requests.get(approval.id)
        return current if current.decided_at else None

    return wait_until(decided, 20, f"request {approval.id} decided")


def _notices(local: Local, approval: ApprovalRequest, count: int = 1) -> list[str]:
    """The thread's notices of calls that went ahead on a remembered approval."""
    thread = local.thread_of(approval)
    assert thread is not None
    calls = local.slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") == thread.ts and str(c.params.get("text", "")).startswith(":fast_forward:"),
        count=count,
    )
    return [str(c.params["text"]) for c in (calls if isinstance(calls, list) else [calls])]


@pytest.fixture
def held(local: Local, monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The agent's resumes wait until the event is set (so a test moves the clock between a decision and the pause
    that follows it)."""
    go, resume = threading.Event(), local.runtime.resume
    monkeypatch.setattr(local.runtime, "resume", lambda approval_id: go.wait(20) and resume(approval_id))
    yield go
    go.set()


# The menu


def test_the_menu_offers_to_approve_for_the_rest_of_the_run_where_the_rule_remembers(local: Local) -> None:
    local.policies(REMEMBERED_REFUNDS)
    approval = _run(local, "Refund #701 for $30")

    assert "Approve, and for the rest of this run" in _menu(local, approval)


def test_the_menu_offers_a_time_boxed_approval_where_the_rule_remembers_for_a_while(local: Local) -> None:
    local.policies(BOXED_REFUNDS)
    approval = _run(local, "Refund #702 for $30")

    assert "Approve, and for 30m" in _menu(local, approval)


def test_the_menu_does_not_offer_it_where_the_rule_does_not_remember(local: Local) -> None:
    local.policies(FORGETFUL_REFUNDS)
    approval = _run(local, "Refund #703 for $30")

    assert not [label for label in _menu(local, approval) if label.startswith("Approve, and for")]


def test_a_manual_or_quorum_rule_cannot_remember() -> None:
    with pytest.raises(ValueError, match="remember is not allowed"):
        PolicyRule(name="manual", tool="refund", level="manual", remember="run")
    with pytest.raises(ValueError, match="remember is not allowed"):
        PolicyRule(name="two people", tool="refund", level="manual", quorum=2, remember="30m")


# Remembering


def test_a_remembered_approval_lets_the_runs_next_call_of_the_tool_go_ahead_naming_it(local: Local) -> None:
    local.policies(REMEMBERED_REFUNDS)
    first = _run(local, "Refund #711 for $30, #712 for $40")

    response = _remember(local, ALEX, first)

    assert response.status == 200
    assert "Refunded $40.00 for order #712" in local.outcome(first)
    second = _decided(local, _request(local, first, 2))
    assert second.action.decision is not None and second.action.decision.decided_by == remembered_decider(first.id)
    assert second.shown_at is None  # nobody was asked
    assert local.store.requests.get(first.id).action.decision.decided_by == ALEX


def test_the_thread_lists_each_call_that_went_ahead_on_it_with_a_link(local: Local) -> None:
    local.policies(REMEMBERED_REFUNDS)
    first = _run(local, "Refund #721 for $30, #722 for $40, #723 for $50")

    _remember(local, ALEX, first)

    local.outcome(first)
    notices = _notices(local, first, count=2)
    link = local.permalink_of(first)
    assert notices == [f":fast_forward: `refund` went ahead on <@{ALEX}>'s <{link}|approval> for the rest of this run."] * 2


def test_the_approved_request_says_it_covers_the_rest_of_the_run(local: Local) -> None:
    local.policies(REMEMBERED_REFUNDS)
    first = _run(local, "Refund #731 for $30")

    _remember(local, ALEX, first)

    update = local.wait_for_update(first, lambda call: "for the rest of this run" in str(call.params["blocks"]))
    assert f"*Approved* by <@{ALEX}>" in str(update.params["blocks"])


def test_a_call_under_another_rule_waits_for_people(local: Local) -> None:
    local.policies(REMEMBERED_REFUNDS, LARGER_REFUNDS)
    first = _run(local, "Refund #741 for $30, #742 for $40, #743 for $500")

    _remember(local, ALEX, first)

    third = local.wait_for_request(first.thread_id, count=3)
    assert third.is_pending and third.action.args["amount"] == 500.0
    assert _request(local, first, 2).action.decision is not None


def test_a_request_with_some_calls_covered_shows_them_decided_and_waits_for_the_others(local: Local) -> None:
    local.policies(REMEMBERED_REFUNDS, LARGER_REFUNDS)
    first = _run(local, "Refund #745 for $30, #746 for $40 & #747 for $500")

    _remember(local, ALEX, first)

    second = local.wait_for_request(first.thread_id, count=2)
    covered, waiting = second.actions
    assert covered.decision is not None and covered.decision.decided_by == remembered_decider(first.id)
    assert waiting.decision is None and second.is_pending
    assert "*Went ahead*" in str(local.message(second)["blocks"])
    local.click("U0LEADREM", ActionId.APPROVE, second, position=1)
    assert "Refunded $500.00 for order #747" in local.outcome(first)


def test_a_plain_approve_covers_nothing_later(local: Local) -> None:
    local.policies(REMEMBERED_REFUNDS)
    first = _run(local, "Refund #748 for $30, #749 for $40")

    local.click(ALEX, ActionId.APPROVE, first)

    second = local.wait_for_request(first.thread_id, count=2)
    assert second.is_pending and local.store.remembered.live(first.thread_id, utcnow()) == []


def test_a_later_call_whose_rule_admins_made_manual_since_waits_for_people(local: Local, held: threading.Event) -> None:
    local.policies(REMEMBERED_REFUNDS)
    first = _run(local, "Refund #785 for $30, #786 for $40", agent="serial_refunds_admin")
    _remember(local, ALEX, first)
    scope = "serial_refunds_admin.refund"
    local.runtime.admin_settings.change(scope, "U0ADMIN", level="manual")
    try:
        held.set()

        second = local.wait_for_request(first.thread_id, count=2)
        assert second.is_pending and second.gate.level == "manual"
    finally:
        local.runtime.admin_settings.change(scope, "U0ADMIN", level=None)


def test_another_run_is_not_covered(local: Local) -> None:
    local.policies(REMEMBERED_REFUNDS)
    first = _run(local, "Refund #751 for $30")
    _remember(local, ALEX, first)
    local.outcome(first)

    other = _run(local, "Refund #752 for $30")

    assert other.is_pending and other.shown_at is not None


def test_a_time_boxed_approval_covers_calls_within_its_time(local: Local, held: threading.Event) -> None:
    local.policies(BOXED_REFUNDS)
    first = _run(local, "Refund #761 for $30, #762 for $40")
    _remember(local, ALEX, first)

    local.clock.move_to(utcnow() + timedelta(minutes=29))
    held.set()

    second = _decided(local, _request(local, first, 2))
    assert second.action.decision is not None and second.action.decision.decided_by == remembered_decider(first.id)
    assert "went ahead on" in _notices(local, first)[0] and " until <!date^" in _notices(local, first)[0]


def test_a_time_boxed_approval_stops_covering_after_its_time(local: Local, held: threading.Event) -> None:
    local.policies(BOXED_REFUNDS)
    first = _run(local, "Refund #771 for $30, #772 for $40")
    _remember(local, ALEX, first)

    local.clock.move_to(utcnow() + timedelta(minutes=31))
    held.set()

    second = local.wait_for_request(first.thread_id, count=2)
    assert second.is_pending and second.action.args["order_id"] == "772"


# Refused


def test_choosing_it_after_admins_made_the_rule_manual_is_refused_and_nothing_is_remembered(local: Local) -> None:
    local.policies(REMEMBERED_REFUNDS)
    first = _run(local, "Refund #781 for $30, #782 for $40", agent="serial_refunds_admin")
    scope = "serial_refunds_admin.refund"
    local.runtime.admin_settings.change(scope, "U0ADMIN", level="manual")
    try:
        _remember(local, ALEX, first)

        assert "does not let an approval cover later calls" in local.ephemeral_to(ALEX)[-1]
        assert local.store.requests.get(first.id).is_pending
        assert local.store.remembered.live(first.thread_id, utcnow()) == []
    finally:
        local.runtime.admin_settings.change(scope, "U0ADMIN", level=None)


def test_a_manual_call_does_not_offer_it(local: Local) -> None:
    local.policies(REMEMBERED_REFUNDS)
    scope = "serial_refunds_admin.refund"
    local.runtime.admin_settings.change(scope, "U0ADMIN", level="manual")
    try:
        approval = _run(local, "Refund #791 for $30", agent="serial_refunds_admin")

        assert approval.gate.level == "manual"
        assert not [label for label in _menu(local, approval) if label.startswith("Approve, and for")]
    finally:
        local.runtime.admin_settings.change(scope, "U0ADMIN", level=None)


# Audited


def test_the_remembered_approval_and_each_call_that_went_ahead_on_it_leave_audit_rows(local: Local) -> None:
    local.policies(REMEMBERED_REFUNDS)
    first = _run(local, "Refund #801 for $30, #802 for $40")
    _remember(local, ALEX, first)
    local.outcome(first)
    second = _request(local, first, 2)

    remembered = [e for e in local.store.audit_log.audit_events(first.id) if e.event == "approval_remembered"]
    went = [e for e in local.store.audit_log.audit_events(second.id) if e.event == "went_ahead_remembered"]
    decided = [e for e in local.store.audit_log.audit_events(second.id) if e.event == "decided"]

    assert [(e.actor, e.detail["covers"]) for e in remembered] == [
        (ALEX, [{"action": 0, "rule": "remembered refunds", "tool": "refund", "until": None}])
    ]
    assert [(e.actor, e.detail["rests_on"], e.detail["approved_by"], e.detail["actions"]) for e in went] == [
        (remembered_decider(first.id), first.id, ALEX, [0])
    ]
    assert [e.actor for e in decided] == [remembered_decider(first.id)]


# Words (Block Kit parsed by slack_sdk, as every surface is)


def _approved_for(remembered: Remembered | None, decided_by: str = ALEX) -> ApprovalRequest:
    action = ProposedAction(
        tool="refund",
        args={"order_id": "1", "amount": 30},
        decision=Decision(type=DecisionType.APPROVE, decided_by=decided_by),
        remembered=remembered,
    )
    run = Run(thread_id="thr_rem", agent="serial_refunds", input_text="Refund #1 for $30", requested_by="U0ASKREM")
    return ApprovalRequest(
        id="apr_rem",
        thread_id="thr_rem",
        interrupt_id="int_rem",
        kind="langchain_hitl",
        actions=[action],
        run=run,
        status="approved",
    )


def _blocks_text(approval: ApprovalRequest) -> str:
    blocks = request_message(approval)["blocks"]
    assert [Block.parse(block).to_dict() for block in blocks] == blocks
    return str(blocks)


def test_a_time_boxed_approval_says_until_when_it_covers_the_runs_calls() -> None:
    until = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)

    text = _blocks_text(_approved_for(Remembered(until=until)))

    assert f"*Approved* by <@{ALEX}>" in text
    assert f"later `refund` calls under this rule until <!date^{int(until.timestamp())}^" in text


def test_a_call_that_went_ahead_on_a_remembered_approval_says_which_it_rests_on() -> None:
    text = _blocks_text(_approved_for(None, decided_by=remembered_decider("apr_first")))

    assert "*Went ahead*" in text and "request `apr_first`" in text and "<@countersign" not in text


def test_the_thread_notice_names_the_approver_and_until_when() -> None:
    run = Run(thread_id="thr_rem", agent="serial_refunds", input_text="Refund")
    until = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
    notice = Notice(run=run, kind="went_ahead_remembered", tool="refund", decided_by=ALEX, approval_id="apr_1", until=until)

    assert notice_text(notice) == (
        f":fast_forward: `refund` went ahead on <@{ALEX}>'s approval (request `apr_1`) until {slack_date(until)}."
    )
