"""Generated: whatever the policy, the calls, the edits and who clicks what, no call runs unless the
decisions recorded for it satisfy the rule that matches the arguments it ran with.

Each example writes rules for a lookup and a refund proposed together, starts a run through the
in-process tier, has people click Approve (one call or all, typing CONFIRM where asked), Reject or Edit
(a new amount) with signed requests through the real Bolt app, lets the worker carry out what is owed,
and then reads what the tools did: for every call that ran, its rule is worked out again from the
arguments it ran with, and the people who decided it (the decider, the votes before) are checked
against that rule."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from approvals.models import POLICY_DECIDER, ApprovalRequest, Gate, Level
from approvals.policies import PolicySet, Rule
from approvals.runs import RunRequest, start_run
from bot.ids import ActionId, BlockId
from sandbox.driver import number_value, plain_text_value
from tests.local import Local
from tests.stack import wait_until

AGENT = "lookup_and_refund_generated"
REQUESTER = "U0GREQ"
PEOPLE = ["U0GA", "U0GB", "U0GC", REQUESTER]
AMOUNTS = [1, 7, 500, 9000, 25000]
_orders = itertools.count(70000)


@st.composite
def rules(draw: st.DrawFn) -> list[Rule]:
    """A few rules for the refund (conditions on its amount) and one or none for the lookup."""
    drawn = []
    for n in range(draw(st.integers(0, 3))):
        level = draw(st.sampled_from(["auto", "hard", "manual", "soft"]))
        threshold = draw(st.sampled_from(AMOUNTS))
        drawn.append(
            Rule(
                name=f"refund rule {n}",
                agent=AGENT,
                tool="refund",
                when=draw(st.sampled_from([None, f"amount >= {threshold}", f"amount < {threshold}", f"amount == {threshold}"])),
                level=level,
                approvers=draw(st.lists(st.sampled_from(PEOPLE[:3]), max_size=2, unique=True)),
                allow_self_approval=draw(st.booleans()),
                quorum=draw(st.integers(1, 2)) if level == "manual" else 1,
            )
        )
    if draw(st.booleans()):
        level = draw(st.sampled_from(["auto", "hard"]))
        drawn.append(
            Rule(name="lookup rule", agent=AGENT, tool="lookup_order", level=level, allow_self_approval=draw(st.booleans()))
        )
    return drawn


@dataclass(frozen=True)
class Step:
    """One person's click: approve one call or all, reject a call, or edit the refund's amount."""

    user: str
    kind: str
    position: int | None = None
    amount: int | None = None


steps = st.lists(
    st.one_of(
        st.builds(Step, st.sampled_from(PEOPLE), st.just("approve"), st.sampled_from([None, 0, 1])),
        st.builds(Step, st.sampled_from(PEOPLE), st.just("reject"), st.sampled_from([0, 1])),
        st.builds(Step, st.sampled_from(PEOPLE), st.just("edit"), st.just(1), st.sampled_from(AMOUNTS)),
    ),
    min_size=1,
    max_size=4,
)


def _targets(approval: ApprovalRequest, position: int | None) -> list[int]:
    return [position] if position is not None else approval.undecided()


def _opened(local: Local, response: Any) -> dict[str, Any] | None:
    """The modal a click opened, if it opened one (a refused click opens none)."""
    trigger = response.payload["trigger_id"] if response.payload else None
    try:
        return dict(
            local.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger, timeout=1.0).params["view"]
        )
    except TimeoutError:
        return None


def _click(local: Local, approval: ApprovalRequest, step: Step) -> None:
    approval = local.store.requests.get(approval.id)
    if not approval.is_pending:
        return
    action_id = {"approve": ActionId.APPROVE, "reject": ActionId.REJECT, "edit": ActionId.EDIT}[step.kind]
    clicked = local.click(step.user, action_id, approval, step.position)
    modal_expected = step.kind != "approve" or any(
        approval.gate_of(p).level is Level.MANUAL for p in _targets(approval, step.position)
    )
    if not modal_expected:
        return
    view = _opened(local, clicked)
    if view is None:
        return
    if step.kind == "approve":
        local.driver.view_submission(step.user, view, {BlockId.CONFIRM: {ActionId.CONFIRM: plain_text_value("CONFIRM")}})
    elif step.kind == "reject":
        local.driver.view_submission(step.user, view, {BlockId.REJECT_REASON: {ActionId.REJECT_REASON: plain_text_value("no")}})
    else:
        action = approval.actions[1]
        values = {
            BlockId.for_arg("order_id"): {ActionId.ARG_VALUE: plain_text_value(str(action.args["order_id"]))},
            BlockId.for_arg("amount"): {ActionId.ARG_VALUE: number_value(str(step.amount))},
            BlockId.for_arg("reason"): {ActionId.ARG_VALUE: plain_text_value("edited")},
            BlockId.CONFIRM: {ActionId.CONFIRM: plain_text_value("CONFIRM")},
        }
        local.driver.view_submission(step.user, view, values)


def _settled(local: Local, approval: ApprovalRequest) -> bool:
    """Still waiting for people, or carried as far as the decisions take it (handed to the agent, and its run no longer
    working: the in-process worker's thread may be the one carrying it, so a test's own `work()` can find nothing to do)."""
    now = local.store.requests.get(approval.id)
    return now.is_pending or (now.resumed_at is not None and not now.run.status.is_owed_work)


def _people_behind(local: Local, approval_id: str, position: int) -> tuple[set[str], set[str]]:
    """(who voted to approve the call before its decision, who re-proposed it by an edit) from the audit log."""
    voters, editors = set(), set()
    for event in local.store.audit_log.audit_events(approval_id):
        if event.event == "voted" and position in event.detail.get("actions", []) and event.actor:
            voters.add(event.actor)
        if event.event == "reproposed" and event.detail.get("action") == position and event.actor:
            editors.add(event.actor)
    return voters, editors


def _satisfies(gate: Gate, decided_by: str, voters: set[str], proposers: set[str]) -> bool:
    if decided_by == POLICY_DECIDER:
        return gate.level is Level.AUTO

    def may(person: str) -> bool:
        return (person not in proposers or gate.allow_self_approval) and (not gate.approvers or person in gate.approvers)

    return may(decided_by) and len({p for p in voters | {decided_by} if may(p)}) >= gate.quorum


@pytest.mark.slow
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(policy=rules(), amount=st.sampled_from(AMOUNTS), clicks=steps)
def test_no_call_runs_unless_its_recorded_deciders_satisfy_the_rule_of_the_arguments_it_ran_with(
    local: Local, policy: list[Rule], amount: int, clicks: list[Step]
) -> None:
    local.policies(*policy)
    order = next(_orders)
    run = RunRequest(
        agent=AGENT, input_text=f"Refund order #{order} for ${amount}", requested_by=REQUESTER, reply_channel="C0ASKED"
    )
    start_run(run, local.store, None)
    local.work()
    # Stored, and posted unless policy decided all of it.
    approval = wait_until(lambda: next(iter(local.store.lists.requests_for_thread(run.thread_id)), None), 10, "the request")
    wait_until(
        lambda: local.posted(approval) or not local.store.requests.get(approval.id).is_pending,
        10,
        "the post",
    )

    for step in clicks:
        _click(local, approval, step)
    local.work()
    wait_until(lambda: _settled(local, approval), 20, "the run to settle")

    now = local.store.requests.get(approval.id)
    outcome = str(now.run.outcome or "")
    ran = {0: f"Order #{order}:" in outcome, 1: local.refunds_of(str(order)) > 0}
    refunded = re.search(rf"Refunded \$([\d.]+) for order #{order}", outcome)
    for position, action in enumerate(now.actions):
        if not ran[position]:
            continue
        decision = action.decision
        assert decision is not None, f"call {position} ran undecided"
        args = dict(action.args)
        if position == 1:
            assert refunded, outcome
            args["amount"] = float(refunded[1])
        gate = PolicySet(rules=policy).rule_for(AGENT, action.tool, args, action.args_schema).gate(timedelta(hours=24))
        voters, editors = _people_behind(local, now.id, position)
        proposers = {REQUESTER, *editors}
        assert _satisfies(gate, decision.decided_by, voters, proposers), (
            f"call {action.tool}({args}) ran on {decision.type} by {decision.decided_by} (votes {voters}), "
            f"but its rule {gate.rule!r} asks for {gate.level}, approvers {gate.approvers}, quorum {gate.quorum}, "
            f"self-approval {gate.allow_self_approval}"
        )
