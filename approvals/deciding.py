"""Deciding a request: the one way a person's decision is taken, whichever front-end they used.

`Deciding.decide` takes (request, who, what, which calls, when) and applies every rule: the calls still
wait and allow that kind of decision, the deadline has not passed, nothing changed since the person saw
it, the person may decide each call under its own rule (a refusal leaves an audit row), a `manual` call
was confirmed, quorum and first decision wins (in the store's transaction, with the audit row and the
resume it owes). The front-end answers the person once `decide` returns (record, then answer), then
calls `hand_over` to enqueue the resume; the dispatcher delivers it from SQL if that enqueue fails.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from redis.exceptions import RedisError

from approvals.authorization import ChannelMembers, check_handover_target, check_may_decide, deciding_channels, handover_allowed
from approvals.decision_kinds import goes_ahead
from approvals.errors import (
    AlreadyDecided,
    ConfirmationNeeded,
    DeadlinePassed,
    DecisionNotAllowed,
    HandoverRefused,
    NotAnApprover,
    RequestChanged,
)
from approvals.frontend import FrontEnd, RequestHandedOver, StandInNamed
from approvals.frontend import RequestChanged as Changed
from approvals.job_queue import JobQueue
from approvals.models import DEADLINE_DECIDER, POLICY_DECIDER, ApprovalRequest, Decision, DecisionType, Gate, Level, Page, utcnow
from approvals.remembering import GateNow, covered_until
from approvals.store import Store
from approvals.store.remembered import remember_calls

log = logging.getLogger(__name__)

# The pending requests of someone who goes away are read this many at a time.
STAND_IN_PAGE = 100


class Directory(Protocol):
    """Who belongs where, as the front-end knows it (Slack: user groups and channel members)."""

    def group_members(self, entries: Sequence[str]) -> set[str]:
        """The users of the user groups among `entries` (plain user ids are left out)."""
        ...

    def channel_members(self, channels: Sequence[str]) -> ChannelMembers:
        """The members of `channels`, and the channels whose members could not be read."""
        ...


class Recorded(NamedTuple):
    """A committed decision: on which request, whether it completed it (then it owes a resume), whether it was
    only a vote toward a quorum, and the calls it was taken on."""

    approval_id: str
    completed: bool
    vote_only: bool = False
    positions: tuple[int, ...] = ()


class Seen(NamedTuple):
    """What the person saw and did as they decided: the request's revision they saw (None: as it stands), whether
    they confirmed (typed CONFIRM), and when (None: now)."""

    rev: int | None = None
    confirmed: bool = False
    at: datetime | None = None


def check_allowed(approval: ApprovalRequest, kind: DecisionType, positions: Sequence[int]) -> None:
    """Raise `DecisionNotAllowed` unless every targeted call accepts this kind of decision."""
    for position in positions:
        action = approval.actions[position]
        if kind not in action.allowed_decisions:
            raise DecisionNotAllowed(f"`{action.tool}` does not allow {kind.value}.")
        gate = approval.gate_of(position)
        if kind is DecisionType.EDIT and gate.quorum > 1:
            raise DecisionNotAllowed(f"edits are off: rule {gate.rule!r} needs {gate.quorum} approvers to approve the same call.")


@dataclass(eq=False)
class Deciding:
    """Takes decisions for any front-end, and tells front-ends what they changed."""

    store: Store
    queue: JobQueue
    # Without one (a worker's deadlines), nobody outside a rule's named approvers may decide: fail closed.
    directory: Directory | None = None
    front_end: FrontEnd | None = None
    clock: Callable[[], datetime] = utcnow

    # Who may decide

    def check_person(
        self,
        approval: ApprovalRequest,
        user_id: str,
        position: int | None = None,
        standing_in: Callable[[], Sequence[str]] | None = None,
    ) -> str | None:
        """Raise `NotAnApprover` unless `user_id` may decide the call at `position` (the request when None); whom
        they decide it for (None: themselves; else the absent approver they stand in for, `standing_in` by default
        read from the store when needed)."""
        gate = approval.gate if position is None else approval.gate_of(position)
        directory = self.directory
        return check_may_decide(
            approval,
            user_id,
            directory.group_members(gate.approvers) if directory and gate.approvers else None,
            directory.channel_members(deciding_channels(approval, gate)) if directory else None,
            position=position,
            standing_in=standing_in or functools.partial(self.standing_in, user_id),
        )

    def standing_in(self, user_id: str) -> list[str]:
        """The people away now who named `user_id` their delegate."""
        return self.store.people.standing_in_for(user_id, self.clock())

    def deciders(self, approval: ApprovalRequest, user_id: str, positions: Sequence[int]) -> dict[int, str | None]:
        """Of `positions`, the calls `user_id` may decide, each by its own rule, with whom they decide it for;
        `NotAnApprover` for the first refused when there is none (the others stay for their own deciders)."""
        allowed: dict[int, str | None] = {}
        refused: NotAnApprover | None = None
        # Read once, and only if some call needs it (the person is not named themselves).
        standing = functools.cache(functools.partial(self.standing_in, user_id))
        for position in positions:
            try:
                allowed[position] = self.check_person(approval, user_id, position, standing)
            except NotAnApprover as error:
                refused = refused or error
        if not allowed and refused is not None:
            raise refused
        return allowed

    def decides_for(self, approval: ApprovalRequest, user_id: str) -> str | None:
        """Whom a click by `user_id` decides the request's undecided calls for, as `decide` takes it: None as
        themselves (or when they may decide none of them), else the first person away they stand in for."""
        try:
            allowed = self.deciders(approval, user_id, approval.undecided())
        except NotAnApprover:
            return None
        return None if None in allowed.values() else next(iter(allowed.values()), None)

    def decidable(self, approval: ApprovalRequest, user_id: str, positions: Sequence[int]) -> list[int]:
        """Of `positions`, the calls `user_id` may decide (`deciders`)."""
        return list(self.deciders(approval, user_id, positions))

    def pending_for(self, user_id: str, limit: int, offset: int = 0) -> Page:
        """A page of the pending requests `user_id` may decide (and how many there are)."""
        lists, directory = self.store.lists, self.directory
        groups, channels = [], []
        absent = {person: [person] for person in self.standing_in(user_id)}
        if directory is not None:
            entries = lists.pending_group_approvers()
            groups = [entry for entry in entries if user_id in directory.group_members([entry])]
            channels = [c for c in lists.pending_member_channels() if user_id in directory.channel_members([c]).members]
            for person, named in absent.items():
                named.extend(entry for entry in entries if person in directory.group_members([entry]))
        return lists.pending_for(user_id, groups, limit, offset, channels=channels, standing_in=absent)

    # Deciding

    def may_decide(
        self,
        approval: ApprovalRequest,
        who: str,
        kind: DecisionType,
        targeted: Sequence[int] | None = None,
        *,
        rev: int | None = None,
        when: datetime | None = None,
    ) -> list[int]:
        """Of the targeted calls (all undecided when None), those `who` may decide now with a decision of `kind`;
        raises what forbids it (a refused person leaves an audit row)."""
        return list(self._may_decide(approval, who, kind, targeted, rev=rev, when=when))

    def _may_decide(
        self,
        approval: ApprovalRequest,
        who: str,
        kind: DecisionType,
        targeted: Sequence[int] | None,
        *,
        rev: int | None,
        when: datetime | None,
    ) -> dict[int, str | None]:
        if not approval.is_pending or (targeted is not None and len(targeted) == 1 and approval.actions[targeted[0]].decision):
            raise AlreadyDecided(approval, list(targeted) if targeted is not None else None)
        if approval.deadline_at is not None and approval.deadline_at <= (when or self.clock()):
            raise DeadlinePassed(approval, approval.deadline_at)
        if rev is not None and rev != approval.revision:
            raise RequestChanged(approval)
        positions = list(targeted) if targeted else approval.undecided()
        check_allowed(approval, kind, positions)
        try:
            return self.deciders(approval, who, positions)
        except NotAnApprover as refused:
            self.store.audit_log.audit("click_refused", approval.id, who, {"intent": kind.value, "reason": str(refused)})
            raise

    def decide(
        self,
        approval: ApprovalRequest,
        decision: Decision,
        targeted: Sequence[int] | None = None,
        *,
        seen: Seen | None = None,
        remember: GateNow | None = None,
    ) -> Recorded:
        """Apply every rule and commit `decision` (by its `decided_by`) on the targeted calls (all undecided when None)
        that person may decide; raises what forbids it, `AlreadyDecided` when someone decided first. With `remember`
        (each call's gate now), an approval that covers the run's later calls too (`approvals.remembering`)."""
        seen = seen or Seen()
        who, kind = decision.decided_by, decision.type
        allowed = self._may_decide(approval, who, kind, targeted, rev=seen.rev, when=seen.at)
        # One decision is taken in one capacity: the calls `who` decides as themselves, else those they decide for
        # the first person they stand in for (the others stay for a click of their own).
        for_user = None if None in allowed.values() else next(iter(allowed.values()), None)
        positions = [position for position, decided_for in allowed.items() if decided_for == for_user]
        decision = decision.model_copy(update={"for_user": for_user})
        covers = covered_until(approval, positions, remember, self.clock()) if remember and kind is DecisionType.APPROVE else None
        if goes_ahead(kind) and not seen.confirmed and any(approval.gate_of(p).level is Level.MANUAL for p in positions):
            raise ConfirmationNeeded(approval)
        return self.record(approval, decision, positions, covers)

    def record(
        self,
        approval: ApprovalRequest,
        decision: Decision,
        positions: Sequence[int],
        covers: dict[int, datetime | None] | None = None,
    ) -> Recorded:
        """Commit a decision already checked against the request as loaded (first decision wins; each call's
        quorum; only if no call changed since), and what each approved call `covers` (remembered in its transaction)."""
        quorums = {position: approval.gate_of(position).quorum for position in positions}
        then = None
        if covers:
            then = functools.partial(remember_calls, approval=approval, approved_by=decision.decided_by, until=covers)
        recorded = self.store.decisions.record_decision(
            approval.id, decision, list(positions), quorum=quorums, revision=approval.revision, then=then
        )
        return Recorded(approval.id, recorded.completed, vote_only=not recorded.positions, positions=tuple(positions))

    def repropose(
        self,
        approval: ApprovalRequest,
        who: str,
        position: int,
        edited_args: dict[str, Any],
        gate: Gate,
        *,
        rev: int | None = None,
        when: datetime | None = None,
    ) -> Recorded:
        """An edit whose arguments fall under another rule (`gate`), by someone who may edit the call: it waits for
        that rule's deciders with `who` as its proposer; a rule that is `auto` approves it at once."""
        self.may_decide(approval, who, DecisionType.EDIT, [position], rev=rev, when=when)
        self.store.requests.repropose(approval, position, edited_args, gate, who)
        if gate.level is not Level.AUTO:
            return Recorded(approval.id, False, positions=(position,))
        by_policy = Decision(type=DecisionType.APPROVE, decided_by=POLICY_DECIDER)
        recorded = self.store.decisions.record_decision(approval.id, by_policy, [position])
        return Recorded(approval.id, recorded.completed, positions=(position,))

    def expire_due(self, now: datetime) -> list[str]:
        """Decide every request whose deadline passed by `now` as its rule says (`decision_kinds.deadline_decision`;
        first decision wins against people), then hand each to its agent; the ids decided."""
        expired = self.store.due.expire_due(now, DEADLINE_DECIDER)
        for approval_id in expired:
            # Committed first, as a person's decision is; the resume is owed in SQL whatever the queue does.
            self.hand_over(Recorded(approval_id, completed=True))
        return expired

    # After the person was answered

    def hand_over(self, recorded: Recorded) -> bool | None:
        """Enqueue the resume a completed request owes: True when a worker has it, False when the queue could
        not be reached (the dispatcher delivers it later), None when the request owes none yet."""
        if not recorded.completed:
            return None
        try:
            self.queue.enqueue_resume(recorded.approval_id)
        except RedisError as error:
            log.warning(
                "approval %s: decision committed, queue unreachable (%s); the dispatcher will resume it",
                recorded.approval_id,
                error,
            )
            return False
        except Exception:  # the decision stands, and the dispatcher still delivers it
            log.exception("approval %s: decision committed, enqueue failed; the dispatcher will resume it", recorded.approval_id)
            return False
        return True

    def announce(self, approval_id: str) -> None:
        """Show the request as it now stands on the front-ends; the decision stands whatever they answer."""
        if self.front_end is None:
            return
        decided = self.store.requests.get(approval_id)
        try:
            # A worker that delivered the decision first has drawn it already (it does where nobody did).
            earlier = self.store.lists.decided_before(decided)
            self.front_end.tell(Changed(approval=decided, earlier=earlier, unless_shown=True))
        except Exception:
            log.exception("approval %s was decided but could not be shown again", decided.id)

    # Handing a request to someone else

    def check_may_hand_over(self, approval: ApprovalRequest, by: str, *, admin: bool = False) -> None:
        """Raise what keeps `by` from handing `approval` to someone else: an admin always may, anyone else when the
        rules of its calls allow it and they may decide it (a refusal is audited)."""
        if not approval.is_pending:
            raise AlreadyDecided(approval)
        if admin:
            return
        refusal = None if handover_allowed(approval) else HandoverRefused(approval, "not_allowed")
        try:
            self.decidable(approval, by, approval.undecided())
        except NotAnApprover:
            refusal = refusal or HandoverRefused(approval, "not_permitted")
        if refusal is not None:
            self.store.audit_log.audit("click_refused", approval.id, by, {"intent": "handover", "reason": refusal.reason})
            raise refusal

    def hand_to(self, approval: ApprovalRequest, to: str, by: str, *, admin: bool = False) -> None:
        """Hand `approval` to `to` at `by`'s asking (`check_may_hand_over`), committed with its audit row; raises what
        forbids it (`to` is `by`, proposed a call they may not decide, was asked already, or decides it already)."""
        self.check_may_hand_over(approval, by, admin=admin)
        check_handover_target(approval, to, by)
        undecided = approval.undecided()
        try:
            already = len(self.decidable(approval, to, undecided)) == len(undecided)
        except NotAnApprover:
            already = False
        if already:
            raise HandoverRefused(approval, "already_decides", to)
        # Handed over under the rules its calls wait on now: a call re-proposed under another rule is not theirs.
        rules = list(dict.fromkeys(approval.gate_of(position).rule for position in undecided))
        self.store.requests.hand_to(approval.id, to, by, self.clock(), rules)

    def announce_handover(self, approval_id: str, to: str, by: str) -> None:
        """Tell the front-ends a request was handed to `to` (so they reach that person), then show it as it stands."""
        if self.front_end is None:
            return
        approval = self.store.requests.get(approval_id)
        earlier = self.store.lists.decided_before(approval)
        try:
            self.front_end.tell(RequestHandedOver(approval=approval, to=to, by=by, earlier=earlier))
        except Exception:
            log.exception("approval %s was handed to %s, who could not be told", approval_id, to)
        self.announce(approval_id)

    # Someone away

    def announce_stand_in(self, away: str, delegate: str) -> int:
        """Tell the front-ends of each pending request `away` may decide, now that `delegate` stands in for them (so
        that it reaches that person as it would had they been named when it was asked); how many there were."""
        if self.front_end is None:
            return 0
        waiting: list[ApprovalRequest] = []
        while page := self.pending_for(away, STAND_IN_PAGE, len(waiting)).requests:
            waiting.extend(page)
            if len(page) < STAND_IN_PAGE:
                break
        for approval in waiting:
            try:
                earlier = self.store.lists.decided_before(approval)
                self.front_end.tell(StandInNamed(approval=approval, away=away, delegate=delegate, earlier=earlier))
            except Exception:  # the others are still told; this one reaches them at its next redraw
                log.exception("approval %s: could not tell %s, who stands in for %s", approval.id, delegate, away)
        return len(waiting)
