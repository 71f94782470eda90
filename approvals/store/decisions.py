"""Decisions on approval requests: first decision wins, votes count towards a quorum, and exactly one decider
sees a request complete (and owes its resume)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from sqlalchemy import Connection, String, and_, bindparam, case, insert, select, update
from sqlalchemy.sql.elements import BindParameter

from approvals.errors import AlreadyDecided, AlreadyVoted, RequestChanged
from approvals.models import ApprovalRequest, Decision, DecisionType, Status, utcnow
from approvals.store.audit_log import record_audit
from approvals.store.database import Database
from approvals.store.requests import HOLD_PENDING, REVISION, load_requests, read_request
from approvals.tables import approval_actions, approval_votes, approvals


class Decided(NamedTuple):
    """What `decide` did: the request as it now stands, which actions this call decided, whether it
    completed the request (then, and only then, the run may resume), and which actions it only voted on."""

    approval: ApprovalRequest
    positions: list[int]
    completed: bool
    voted: list[int]


class DecisionRecord(NamedTuple):
    """What `record_decision` did: which actions this call decided, whether it completed the request, and
    which actions it only voted on (`Decided` without the request read back)."""

    positions: list[int]
    completed: bool
    voted: list[int]


# Recording a decision, before a click is acked: built once, as building them costs half of that step's CPU.
_ID: BindParameter[str] = bindparam("request")
_UNDECIDED = select(approval_actions.c.position).where(
    approval_actions.c.approval_id == _ID, approval_actions.c.decision_type.is_(None)
)
_UNDECIDED_OF = _UNDECIDED.where(approval_actions.c.position.in_(bindparam("positions", expanding=True)))
# Approving a call an edit re-proposed under another rule runs it with the edit's arguments: recorded as that edit.
_APPROVING_A_REPROPOSAL = and_(
    bindparam("type", type_=String) == DecisionType.APPROVE.value, approval_actions.c.proposed_args.is_not(None)
)
_DECIDE_ACTIONS = (
    update(approval_actions)
    .where(approval_actions.c.approval_id == _ID, approval_actions.c.position.in_(bindparam("positions", expanding=True)))
    .values(
        decision_type=case(
            (_APPROVING_A_REPROPOSAL, DecisionType.EDIT.value),
            else_=bindparam("type", type_=String),
        ),
        edited_args=case(
            (_APPROVING_A_REPROPOSAL, approval_actions.c.proposed_args),
            else_=bindparam("edited", type_=approval_actions.c.edited_args.type),
        ),
        decided_by=bindparam("by"),
        decided_at=bindparam("at"),
        decision_message=bindparam("message"),
        decided_for=bindparam("for"),
    )
)
_DECISION_KINDS = select(approval_actions.c.decision_type).where(approval_actions.c.approval_id == _ID)
_COMPLETE = update(approvals).where(approvals.c.id == _ID).values(status=bindparam("summary"), decided_at=bindparam("when"))


class Decisions:
    """Recording people's (and the policy's) decisions and votes on requests."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def decide(
        self, approval_id: str, decision: Decision, positions: list[int] | None = None, quorum: int | Mapping[int, int] = 1
    ) -> Decided:
        """`record_decision`, then the request as it now stands."""
        recorded = self.record_decision(approval_id, decision, positions, quorum)
        return Decided(read_request(self.db, approval_id), *recorded)

    def record_decision(
        self,
        approval_id: str,
        decision: Decision,
        positions: list[int] | None = None,
        quorum: int | Mapping[int, int] = 1,
        revision: int | None = None,
        then: Callable[[Connection, list[int]], None] | None = None,
    ) -> DecisionRecord:
        """Record `decision` on the given actions (all undecided ones when None), first decision wins.

        With a `quorum` above one (for every action, or by position), an approval is a vote: the action is
        approved once that many distinct people approved it (`AlreadyVoted` for a second vote by the same person). Raises
        `AlreadyDecided` when every targeted action was decided first. The request is complete when
        its last action is decided; exactly one caller sees `completed`, and the resume it owes is
        committed with it (decided and not resumed). `then` writes what goes with the decision, in its transaction,
        given the actions it decided.
        """
        with self.db.writing() as conn:
            # A no-op write on the request row: it serialises deciders of one request (a row lock on
            # PostgreSQL, the write lock on SQLite) so exactly one of them sees it complete.
            open_ = conn.execute(HOLD_PENDING, {"request": approval_id}).rowcount
            # A call changed under the decider (an edit re-proposed it) after they were checked.
            if open_ and revision is not None and conn.execute(REVISION, {"request": approval_id}).scalar() != revision:
                raise RequestChanged(load_requests(conn, [approval_id])[0])
            won: list[int] = []
            completed = False
            if open_:
                if positions is None:
                    undecided = conn.execute(_UNDECIDED, {"request": approval_id})
                else:
                    undecided = conn.execute(_UNDECIDED_OF, {"request": approval_id, "positions": positions})
                won = list(undecided.scalars())
            voted: list[int] = []
            clash: tuple[str, str] | None = None
            quorums = quorum if isinstance(quorum, Mapping) else dict.fromkeys(won, quorum)
            counted = [p for p in won if quorums.get(p, 1) > 1] if decision.type is DecisionType.APPROVE else []
            if counted:
                voted, reached, clash = self._vote(conn, approval_id, decision, counted, quorums)
                won = [p for p in won if p not in counted or p in reached]
            if won:
                conn.execute(
                    _DECIDE_ACTIONS,
                    {
                        "request": approval_id,
                        "positions": won,
                        "type": decision.type.value,
                        "by": decision.decided_by,
                        "at": decision.decided_at,
                        "edited": decision.edited_args,
                        "message": decision.message,
                        "for": decision.for_user,
                    },
                )
                record_audit(
                    conn,
                    "decided",
                    approval_id,
                    decision.decided_by,
                    {"actions": won, **decision.model_dump(mode="json", exclude={"decided_by", "decided_at"})},
                )
                if then is not None:
                    then(conn, won)
                kinds = conn.execute(_DECISION_KINDS, {"request": approval_id}).scalars().all()
                completed = None not in kinds
                if completed:
                    status = Status.summarising([DecisionType(k) for k in kinds]).value
                    conn.execute(_COMPLETE, {"request": approval_id, "summary": status, "when": utcnow()})
        if not won and not voted:
            current = read_request(self.db, approval_id)
            if open_ and counted:
                by, person = clash or (decision.decided_by, decision.decided_by)
                raise AlreadyVoted(current, decision.decided_by, counted=person, by=by)
            raise AlreadyDecided(current, positions)
        # Not read back here: the bot acks a click right after this, and reads the request once it has.
        return DecisionRecord(positions=won, completed=completed, voted=voted)

    def _vote(
        self, conn: Connection, approval_id: str, decision: Decision, positions: list[int], quorums: Mapping[int, int]
    ) -> tuple[list[int], list[int], tuple[str, str] | None]:
        """Add this approver's vote on each action; returns (voted only, reached the quorum, and for a vote refused
        the earlier vote it clashes with: who cast it, and the person it counted twice).

        One person counts once toward a quorum, whether they voted for themselves or someone stood in for them: a
        delegate's vote for X counts both the delegate and X, so neither may be counted again on that call."""
        voter = decision.decided_by
        counts = {voter, decision.for_user or voter}
        cast = conn.execute(
            select(approval_votes.c.position, approval_votes.c.user_id, approval_votes.c.for_user).where(
                approval_votes.c.approval_id == approval_id, approval_votes.c.position.in_(positions)
            )
        ).all()
        clash: tuple[str, str] | None = None
        already: set[int] = set()
        for position, user_id, for_user in cast:
            twice = counts & {user_id, for_user or user_id}
            if twice:
                already.add(position)
                clash = clash if clash and clash[0] == voter else (user_id, sorted(twice)[0])
        new = [p for p in positions if p not in already]
        if new:
            conn.execute(
                insert(approval_votes).values(for_user=decision.for_user),
                [{"approval_id": approval_id, "position": p, "user_id": voter, "at": decision.decided_at} for p in new],
            )
            detail = {"actions": new, "quorum": max(quorums[p] for p in new)}
            if decision.for_user:
                detail["for_user"] = decision.for_user
            record_audit(conn, "voted", approval_id, voter, detail)
        reached = []
        for position in new:
            votes = (
                conn.execute(
                    select(approval_votes.c.user_id).where(
                        approval_votes.c.approval_id == approval_id, approval_votes.c.position == position
                    )
                )
                .scalars()
                .all()
            )
            if len(votes) >= quorums[position]:
                reached.append(position)
        return [p for p in new if p not in reached], reached, clash
