"""Owed work and time: the runs and resumes a worker owes, and the deadlines, escalations and reminders that
fall due. The dispatcher reads what is owed from here, so a Redis that lost its data delays work and loses none."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.sql.elements import BindParameter

from approvals.audit import AuditEntry, append_audit
from approvals.decision_kinds import deadline_decision
from approvals.models import DecisionType, Gate, RunStatus, Status, utcnow
from approvals.store.audit_log import record_audit
from approvals.store.database import Database
from approvals.tables import approval_actions, approval_escalations, approval_reminders, approvals, runs


class Escalated(NamedTuple):
    """An escalation decided in SQL: the request moved to `stage` and is to be posted in `channel`."""

    approval_id: str
    stage: int
    channel: str
    attempts: int = 0  # the front-ends' failed tries to show it


def owe_reminders(
    conn: Connection, approval_id: str, stage: int, deadline: datetime, before: list[timedelta], now: datetime
) -> None:
    """Owe the reminders a request's stage sends `before` its deadline (those still ahead of `now`)."""
    due = sorted({deadline - ahead for ahead in before if deadline - ahead > now})
    if due:
        conn.execute(
            insert(approval_reminders),
            [{"approval_id": approval_id, "stage": stage, "due_at": at} for at in due],
        )


def _lease_free(now: datetime) -> Any:
    """Nobody holds the run's lease, and its next attempt is not held back past `now`."""
    return and_(
        or_(runs.c.lease_owner.is_(None), runs.c.lease_expires_at < now),
        or_(runs.c.next_attempt_at.is_(None), runs.c.next_attempt_at <= now),
    )


_OWED_STATUSES = [RunStatus.QUEUED.value, RunStatus.RUNNING.value]
_FINISHED_STATUSES = [RunStatus.DONE.value, RunStatus.FAILED.value]
_THREAD: BindParameter[str] = bindparam("thread")
# Still waiting, or withdrawn when a person stopped its run: no decision of it is owed to the agent.
_OWE_NO_RESUME = [Status.PENDING.value, Status.WITHDRAWN.value]
_OTHER_RESUMES_OWED = (
    select(approvals.c.id)
    .where(approvals.c.thread_id == _THREAD, approvals.c.status.not_in(_OWE_NO_RESUME), approvals.c.resumed_at.is_(None))
    .order_by(approvals.c.decided_at)
)
# A deadline that approves a call an edit re-proposed under another rule runs it with the edit's arguments,
# as a person's approval does: recorded as that edit.
_REPROPOSED = approval_actions.c.proposed_args.is_not(None)
_APPROVED_AS_RUN = {
    "decision_type": case((_REPROPOSED, DecisionType.EDIT.value), else_=DecisionType.APPROVE.value),
    "edited_args": approval_actions.c.proposed_args,
}


class Due:
    """What is owed now, and what falls due with time."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def runs_owed(self, now: datetime, limit: int = 500) -> list[str]:
        """Threads a worker must take further (queued or running, or finished and not told), nobody on them."""
        owed = or_(
            runs.c.status.in_(_OWED_STATUSES),
            and_(runs.c.status.in_(_FINISHED_STATUSES), runs.c.outcome_posted_at.is_(None)),
        )
        with self.db.engine.connect() as conn:
            return list(
                conn.execute(
                    select(runs.c.thread_id).where(owed, _lease_free(now)).order_by(runs.c.created_at).limit(limit)
                ).scalars()
            )

    def resumes_owed(self, now: datetime, limit: int = 500) -> list[str]:
        """Decided requests whose decision has not reached the agent, on threads nobody is working on."""
        with self.db.engine.connect() as conn:
            return list(
                conn.execute(
                    select(approvals.c.id)
                    .join(runs, runs.c.thread_id == approvals.c.thread_id)
                    .where(
                        approvals.c.status.not_in(_OWE_NO_RESUME),
                        approvals.c.resumed_at.is_(None),
                        runs.c.status != RunStatus.FAILED.value,
                        runs.c.stop_requested_at.is_(None),  # a stopped run's agent is never resumed
                        _lease_free(now),
                    )
                    .order_by(approvals.c.decided_at)
                    .limit(limit)
                ).scalars()
            )

    def other_resumes_owed(self, thread_id: str) -> list[str]:
        """Decided, not yet resumed requests of one thread (handed on when a worker lets the thread go)."""
        with self.db.engine.connect() as conn:
            return list(conn.execute(_OTHER_RESUMES_OWED, {"thread": thread_id}).scalars())

    def next_due(self) -> datetime | None:
        """The earliest moment something timed falls due: a pending deadline, an unsent reminder, an unposted
        escalation (due at once, or at its next try after a failed one)."""
        with self.db.engine.connect() as conn:
            deadline = conn.execute(
                select(func.min(approvals.c.deadline_at)).where(approvals.c.status == Status.PENDING.value)
            ).scalar()
            reminder = conn.execute(
                select(func.min(approval_reminders.c.due_at))
                .join(approvals, approvals.c.id == approval_reminders.c.approval_id)
                .where(
                    approval_reminders.c.sent_at.is_(None),
                    approval_reminders.c.stage == approvals.c.stage,
                    approvals.c.status == Status.PENDING.value,
                )
            ).scalar()
            unposted = conn.execute(
                select(func.min(func.coalesce(approval_escalations.c.next_attempt_at, approval_escalations.c.at))).where(
                    approval_escalations.c.shown_at.is_(None)
                )
            ).scalar()
        moments = [m for m in (deadline, reminder, unposted) if m is not None]
        return min(moments) if moments else None

    # Deadlines, escalations and reminders

    def expire_due(self, now: datetime, by: str) -> list[str]:
        """Apply every due deadline whose outcome is reject or approve, in one transaction; returns the
        ids of the requests it completed (first decision wins: a request decided meanwhile is skipped)."""
        is_due = (
            approvals.c.status == Status.PENDING.value,
            approvals.c.deadline_at <= now,
            approvals.c.timeout_action.in_(["reject", "approve"]),
        )
        with self.db.writing() as conn:
            # Write first, as `decide` does: it locks the due rows (PostgreSQL) or the database (SQLite)
            # before anything is read, so a racing click and this deadline serialise; first one wins.
            conn.execute(update(approvals).where(*is_due).values(status=Status.PENDING.value))
            due = conn.execute(select(approvals.c.id, approvals.c.timeout_action, approvals.c.deadline_at).where(*is_due)).all()
            outcome = {row.id: row.timeout_action for row in due}
            undecided = (
                conn.execute(
                    select(
                        approval_actions.c.approval_id, approval_actions.c.position, approval_actions.c.allowed_decisions
                    ).where(approval_actions.c.approval_id.in_(list(outcome)), approval_actions.c.decision_type.is_(None))
                ).all()
                if due
                else []
            )
            said_no: set[str] = set()
            for row in undecided:
                kind, message = deadline_decision(outcome[row.approval_id], [DecisionType(d) for d in row.allowed_decisions])
                if kind is not DecisionType.APPROVE:
                    said_no.add(row.approval_id)
                ran = _APPROVED_AS_RUN if kind is DecisionType.APPROVE else {"decision_type": kind.value}
                conn.execute(
                    update(approval_actions)
                    .where(approval_actions.c.approval_id == row.approval_id, approval_actions.c.position == row.position)
                    .values(**ran, decided_by=by, decided_at=now, decision_message=message)
                )
            for approval_id in outcome:
                status = Status.EXPIRED if approval_id in said_no or outcome[approval_id] == "reject" else Status.APPROVED
                conn.execute(
                    update(approvals)
                    .where(approvals.c.id == approval_id, approvals.c.status == Status.PENDING.value)
                    .values(status=status.value, decided_at=now)
                )
            append_audit(
                conn,
                [
                    AuditEntry(
                        "deadline", row.id, by, {"outcome": row.timeout_action, "deadline_at": row.deadline_at.isoformat()}, now
                    )
                    for row in due
                ],
            )
        return [row.id for row in due]

    def escalate_due(self, now: datetime) -> list[Escalated]:
        """Move every pending request whose deadline escalates it to its next stage, in one transaction;
        each gets a new deadline and an escalation row still to be posted."""
        is_due = (
            approvals.c.status == Status.PENDING.value,
            approvals.c.deadline_at <= now,
            approvals.c.timeout_action == "escalate",
        )
        moved: list[Escalated] = []
        with self.db.writing() as conn:
            conn.execute(update(approvals).where(*is_due).values(status=Status.PENDING.value))
            for row in conn.execute(select(approvals.c.id, approvals.c.stage, approvals.c.gate).where(*is_due)).all():
                gate = Gate.model_validate(row.gate)
                stage = row.stage + 1
                channel = gate.escalation[stage - 1].channel
                deadline = now + gate.timeout_of(stage)
                conn.execute(
                    update(approvals)
                    .where(approvals.c.id == row.id)
                    .values(stage=stage, deadline_at=deadline, timeout_action=gate.action_at_deadline(stage))
                )
                conn.execute(insert(approval_escalations).values(approval_id=row.id, stage=stage, channel=channel, at=now))
                owe_reminders(conn, row.id, stage, deadline, gate.reminders, now)
                record_audit(conn, "escalated", row.id, None, {"stage": stage, "channel": channel})
                moved.append(Escalated(row.id, stage, channel))
        return moved

    def unshown_escalations(self, now: datetime) -> list[Escalated]:
        """Escalations decided in SQL that no front-end has shown yet (this attempt's, or a dead one's), but those
        whose next try after a failed one is not due by `now`."""
        escalations = approval_escalations.c
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(escalations.approval_id, escalations.stage, escalations.channel, escalations.attempts)
                .where(
                    escalations.shown_at.is_(None), or_(escalations.next_attempt_at.is_(None), escalations.next_attempt_at <= now)
                )
                .order_by(escalations.at)
            ).all()
        return [Escalated(row.approval_id, row.stage, row.channel, row.attempts) for row in rows]

    def escalation_not_shown(self, escalation: Escalated, retry_at: datetime) -> None:
        """Note a failed try to show an escalation: whichever worker tries next waits until `retry_at`."""
        with self.db.writing() as conn:
            conn.execute(
                update(approval_escalations)
                .where(
                    approval_escalations.c.approval_id == escalation.approval_id, approval_escalations.c.stage == escalation.stage
                )
                .values(attempts=escalation.attempts + 1, next_attempt_at=retry_at)
            )

    def escalation_shown(self, approval_id: str, stage: int) -> None:
        """Note that an escalation was shown: nothing more is owed for it."""
        with self.db.writing() as conn:
            conn.execute(
                update(approval_escalations)
                .where(approval_escalations.c.approval_id == approval_id, approval_escalations.c.stage == stage)
                .values(shown_at=utcnow())
            )

    def reminders_due(self, now: datetime) -> list[tuple[str, int, datetime]]:
        """(request id, stage, due) of unsent reminders that fell due, for requests still pending at that stage."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(approval_reminders.c.approval_id, approval_reminders.c.stage, approval_reminders.c.due_at)
                .join(approvals, approvals.c.id == approval_reminders.c.approval_id)
                .where(
                    approval_reminders.c.sent_at.is_(None),
                    approval_reminders.c.due_at <= now,
                    approval_reminders.c.stage == approvals.c.stage,
                    approvals.c.status == Status.PENDING.value,
                )
                .order_by(approval_reminders.c.due_at)
            ).all()
        return [(row.approval_id, row.stage, row.due_at) for row in rows]

    def reminder_sent(self, approval_id: str, stage: int, due_at: datetime) -> None:
        """A reminder is in Slack: it is not owed any more."""
        with self.db.writing() as conn:
            conn.execute(
                update(approval_reminders)
                .where(
                    approval_reminders.c.approval_id == approval_id,
                    approval_reminders.c.stage == stage,
                    approval_reminders.c.due_at == due_at,
                )
                .values(sent_at=utcnow())
            )
