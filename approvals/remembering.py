"""Approvals that remember, where a rule allows it (`remember: run | 30m`, never `manual` or a quorum): a person's
approval of a call ("Approve, and for the rest of this run") also lets later calls of the same tool, under the same
rule, by the same run go ahead, each with `decided_by` naming the approval it rests on.

Giving one: `covered_until` checks, as the decision is taken, that each call's rule remembers both as shown and as it
would govern the call now (admins' settings may have made it manual since), and says until when; `Deciding.decide`
then records the remembered approvals in the decision's transaction. Using one: when the run pauses again,
`without_people` decides what needs no one: the calls whose own rule is `auto` (the policy), then each call whose own
gate (its rule judged on the arguments it will run with) has the rule and tool of a live remembered approval of its
run and still remembers. A call under another rule (a larger amount, a stricter rule) waits for people.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import NamedTuple

from sqlalchemy import Connection

from approvals.errors import AlreadyDecided, DecisionNotAllowed
from approvals.frontend import Notice
from approvals.models import (
    API_KIND,
    POLICY_DECIDER,
    ApprovalRequest,
    Decision,
    DecisionType,
    Gate,
    Level,
    remembered_decider,
)
from approvals.store import Store
from approvals.store.remembered import RememberedApproval, went_ahead

# The gate a call would get now (its rule judged on the arguments it will run with, the admins' settings on top).
GateNow = Callable[[int], Gate]


def covered_until(
    approval: ApprovalRequest, positions: Sequence[int], gate_now: GateNow, now: datetime
) -> dict[int, datetime | None]:
    """Until when the approval of each call at `positions` covers later calls (None: the rest of the run); raises
    `DecisionNotAllowed` when a call's rule does not remember approvals, as shown or as it would govern the call now."""
    until: dict[int, datetime | None] = {}
    for position in positions:
        shown, current = approval.gate_of(position), gate_now(position)
        if approval.kind == API_KIND or not (shown.remembers and current.remembers and current.rule == shown.rule):
            tool = approval.actions[position].tool
            raise DecisionNotAllowed(
                f"`{tool}` can only be approved for itself: rule {current.rule!r} does not let an approval cover "
                "later calls (it is not on for the rule, or the rule is manual or needs several approvers)."
            )
        until[position] = now + current.remember if isinstance(current.remember, timedelta) else None
    return until


class Unattended(NamedTuple):
    """What `without_people` decided: the request as it now stands, whether that completed it (then it is delivered
    at once, never posted), and a notice for each call that went ahead on a remembered approval."""

    approval: ApprovalRequest
    completed: bool
    notices: list[Notice]


def without_people(store: Store, request: ApprovalRequest, now: datetime) -> Unattended:
    """Decide the calls of a new pause that need no one: those whose own rule is `auto` (by the policy), then those a
    live remembered approval of the run covers (each resting on it). The others still wait for people."""
    completed, notices = False, list[Notice]()
    automatic = [p for p in request.undecided() if request.gate_of(p).level is Level.AUTO]
    if automatic and request.is_pending:
        by_policy = store.decisions.decide(request.id, Decision(type=DecisionType.APPROVE, decided_by=POLICY_DECIDER), automatic)
        request, completed = by_policy.approval, by_policy.completed
    remembering = [p for p in request.undecided() if request.gate_of(p).remembers]
    if not remembering or not request.is_pending or request.kind == API_KIND:
        return Unattended(request, completed, notices)  # nothing a remembered approval could cover: no read
    for remembered, positions in _covered(request, store.remembered.live(request.thread_id, now)):
        decision = Decision(type=DecisionType.APPROVE, decided_by=remembered_decider(remembered.approval_id), decided_at=now)
        then = partial(_went_ahead, request, remembered)
        try:
            recorded = store.decisions.record_decision(request.id, decision, positions, then=then)
        except AlreadyDecided:
            continue  # decided by someone else first: nothing went ahead on it
        completed = completed or recorded.completed
        notices.extend(
            Notice(
                run=request.run,
                kind="went_ahead_remembered",
                tool=request.actions[p].tool,
                decided_by=remembered.approved_by,
                approval_id=remembered.approval_id,
                until=remembered.until,
            )
            for p in recorded.positions
        )
    return Unattended(store.requests.get(request.id) if notices else request, completed, notices)


def _covered(request: ApprovalRequest, live: list[RememberedApproval]) -> list[tuple[RememberedApproval, list[int]]]:
    """The request's undecided calls each live remembered approval covers (the earliest given that covers a call)."""
    covering: dict[str, tuple[RememberedApproval, list[int]]] = {}
    for position in request.undecided():
        gate, tool = request.gate_of(position), request.actions[position].tool
        if not gate.remembers or request.actions[position].result is not None:
            continue
        found = next((r for r in live if r.rule == gate.rule and r.tool == tool and r.approval_id != request.id), None)
        if found is not None:
            covering.setdefault(found.approval_id + f"#{found.position}", (found, []))[1].append(position)
    return list(covering.values())


def _went_ahead(request: ApprovalRequest, remembered: RememberedApproval, conn: Connection, positions: list[int]) -> None:
    went_ahead(conn, request, positions, remembered)
