"""Runs, their leases and their stops: one row per LangGraph thread, the lease one worker at a time holds to take
it further, and who stopped it (then nothing of it runs again)."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, case, insert, or_, select, update
from sqlalchemy.sql.elements import BindParameter

from approvals.audit import AuditEntry, append_audit
from approvals.models import Ending, Run, RunStatus, Status, utcnow
from approvals.store.audit_log import record_audit
from approvals.store.database import WarmedSection
from approvals.tables import approvals, runs


def run_from_row(row: RowMapping) -> Run:
    """A run as read from its row (or from a row of a join that holds its columns)."""
    return Run.model_validate({key: row[key] for key in Run.model_fields if key in row})


# A run, taking its lease, and what a job writes at each step of it: built once, as building statements and
# their cache keys on every call is a visible share of a job's CPU.
_THREAD: BindParameter[str] = bindparam("thread")
_NOW: BindParameter[datetime] = bindparam("now")
_GET_RUN = select(runs).where(runs.c.thread_id == _THREAD)
# A run a person stopped stays as the stop left it: no worker sets its status or ending after that.
_NOT_STOPPED = runs.c.stop_requested_at.is_(None)
_STOP_REQUESTED = select(runs.c.stop_requested_at).where(runs.c.thread_id == _THREAD)
_FINISHED = [RunStatus.DONE.value, RunStatus.FAILED.value]
_CLAIM = (
    update(runs)
    .where(
        runs.c.thread_id == _THREAD,
        or_(runs.c.lease_owner.is_(None), runs.c.lease_expires_at < _NOW, runs.c.lease_owner == bindparam("owner")),
    )
    .values(
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("until"),
        attempts=runs.c.attempts + 1,
        # A queued run is running from the moment a worker holds it.
        status=case((runs.c.status == RunStatus.QUEUED.value, RunStatus.RUNNING.value), else_=runs.c.status),
        updated_at=case((runs.c.status == RunStatus.QUEUED.value, _NOW), else_=runs.c.updated_at),
    )
    .returning(*runs.c)
)
_FINISH_RUN = (
    update(runs)
    .where(runs.c.thread_id == _THREAD, _NOT_STOPPED)
    .values(
        status=bindparam("b_status"),
        outcome=bindparam("b_outcome"),
        ending=bindparam("b_ending"),
        attempts=0,
        next_attempt_at=None,
        updated_at=_NOW,
    )
    .returning(*runs.c)
)
_OUTCOME_POSTED = update(runs).where(runs.c.thread_id == _THREAD).values(outcome_posted_at=_NOW)
_RELEASE = (
    update(runs)
    .where(runs.c.thread_id == _THREAD, runs.c.lease_owner == bindparam("owner"))
    .values(lease_owner=None, lease_expires_at=None)
)
_SET_STATUS = update(runs).where(runs.c.thread_id == _THREAD, _NOT_STOPPED).values(status=bindparam("b_status"), updated_at=_NOW)
_WAITING = (
    update(runs)
    .where(runs.c.thread_id == _THREAD, _NOT_STOPPED)
    .values(status=RunStatus.WAITING.value, updated_at=_NOW, attempts=0, next_attempt_at=None)
)


def _withdraw(conn: Connection, thread_id: str, by: str | None, reason: str | None) -> list[str]:
    """Withdraw every pending request of a stopped run, audited one by one; their ids."""
    now = utcnow()
    pending = (approvals.c.thread_id == thread_id, approvals.c.status == Status.PENDING.value)
    withdrawn = list(conn.execute(select(approvals.c.id).where(*pending).order_by(approvals.c.created_at)).scalars())
    if withdrawn:
        conn.execute(update(approvals).where(*pending).values(status=Status.WITHDRAWN.value, decided_at=now))
        detail = {"thread_id": thread_id, "reason": reason}
        append_audit(conn, [AuditEntry("withdrawn", approval_id, by, detail, now) for approval_id in withdrawn])
    return withdrawn


class Runs(WarmedSection):
    """Runs (one per LangGraph thread) and the leases workers take on them."""

    def _warm_up(self) -> None:
        with suppress(KeyError):
            self.get_run("")

    def create_run(self, run: Run) -> Run:
        """Record a new run (queued: owed to a worker); storing the same thread twice keeps the first record."""
        with self.db.writing() as conn:
            existing = conn.execute(select(runs).where(runs.c.thread_id == run.thread_id)).mappings().first()
            if existing is not None:
                return run_from_row(existing)
            values = run.model_dump(
                exclude={"attempts", "outcome_posted_at", "ending", "stop_requested_by", "stop_requested_at", "stop_reason"}
            )
            conn.execute(insert(runs).values(**values, updated_at=utcnow(), attempts=0))
            record_audit(conn, "run_started", None, run.requested_by, {"thread_id": run.thread_id, "agent": run.agent})
        return run

    def get_run(self, thread_id: str, conn: Connection | None = None) -> Run:
        """The run of one LangGraph thread."""
        with self.db.connect(conn) as c:
            row = c.execute(_GET_RUN, {"thread": thread_id}).mappings().first()
        if row is None:
            raise KeyError(f"no run with thread_id {thread_id!r}")
        return run_from_row(row)

    def update_run(self, thread_id: str, **values: Any) -> bool:
        """Set fields of a run; False when a person stopped it (it stays as the stop left it)."""
        if "status" in values:
            values["status"] = RunStatus(values["status"]).value
        with self.db.writing() as conn:
            changed = conn.execute(
                update(runs).where(runs.c.thread_id == thread_id, _NOT_STOPPED).values(**values, updated_at=utcnow())
            )
        return bool(changed.rowcount)

    def set_status(self, thread_id: str, status: RunStatus) -> bool:
        """Set a run's status; False when a person stopped it (it stays as the stop left it)."""
        with self.db.writing() as conn:
            return bool(conn.execute(_SET_STATUS, {"thread": thread_id, "b_status": status.value, "now": utcnow()}).rowcount)

    def waiting(self, thread_id: str) -> bool:
        """The run paused for people: it waits, and its attempts start again (it got somewhere); False when a
        person stopped it (it stays as the stop left it, its ending owed)."""
        with self.db.writing() as conn:
            return bool(conn.execute(_WAITING, {"thread": thread_id, "now": utcnow()}).rowcount)

    def finish_run(self, thread_id: str, status: RunStatus, ending: Ending) -> Run:
        """Record how a run ended (its outcome: the agent's answer, if any); then owed to people until `outcome_posted`.
        A run a person stopped keeps its halted ending. Returns the run as it stands."""
        values = {"b_status": status.value, "b_outcome": ending.answer, "b_ending": ending.model_dump(mode="json")}
        with self.db.writing() as conn:
            finished = conn.execute(_FINISH_RUN, {"thread": thread_id, "now": utcnow(), **values}).mappings().first()
            if finished is None:
                return self.get_run(thread_id, conn)
            record_audit(conn, f"run_{status.value}", None, None, {"thread_id": thread_id})
        return run_from_row(finished)

    def stop_requested(self, thread_id: str) -> bool:
        """Whether a person stopped the run (checked as a job settles; each tool call's start checks it with its journal
        entry, `ToolJournal.tool_call_started`)."""
        with self.db.engine.connect() as conn:
            return conn.execute(_STOP_REQUESTED, {"thread": thread_id}).scalar() is not None

    def stop(self, thread_id: str, by: str, reason: str | None, tell_after: timedelta) -> list[str] | None:
        """Stop a run that has not ended, in one transaction: who, when and why; it ends `halted`; its pending requests
        are withdrawn (no resume is owed for them); audited. The ids withdrawn, or None when it had ended already.
        Its ending is owed to people, told by the stopper at once or by a worker once `tell_after` has passed."""
        now = utcnow()
        ending = Ending(kind="halted", decided_by=by, reason=reason).model_dump(mode="json")
        with self.db.writing() as conn:
            stopped = conn.execute(
                update(runs)
                .where(runs.c.thread_id == thread_id, _NOT_STOPPED, runs.c.status.not_in(_FINISHED))
                .values(
                    stop_requested_by=by,
                    stop_requested_at=now,
                    stop_reason=reason,
                    status=RunStatus.DONE.value,
                    outcome=None,
                    ending=ending,
                    next_attempt_at=now + tell_after,
                    updated_at=now,
                )
            ).rowcount
            if not stopped:
                return None
            append_audit(conn, [AuditEntry("run_stopped", None, by, {"thread_id": thread_id, "reason": reason}, now)])
            return _withdraw(conn, thread_id, by, reason)

    def withdraw_left(self, thread_id: str) -> list[str]:
        """Withdraw the requests a worker stored on a stopped run as the stop was made; the ids of every withdrawn
        request of the run (a worker that raced the stop may have shown them as they were before it)."""
        with self.db.writing() as conn:
            stopped = (runs.c.thread_id == thread_id, runs.c.stop_requested_at.is_not(None))
            stop = conn.execute(select(runs.c.stop_requested_by, runs.c.stop_reason).where(*stopped)).first()
            if stop is None:
                return []
            _withdraw(conn, thread_id, stop.stop_requested_by, stop.stop_reason)
            withdrawn = (approvals.c.thread_id == thread_id, approvals.c.status == Status.WITHDRAWN.value)
            return list(conn.execute(select(approvals.c.id).where(*withdrawn).order_by(approvals.c.created_at)).scalars())

    def outcome_posted(self, thread_id: str) -> None:
        """The run's ending was told (or had nowhere to go): nothing more is owed."""
        with self.db.writing() as conn:
            conn.execute(_OUTCOME_POSTED, {"thread": thread_id, "now": utcnow()})

    # Leases: one worker at a time takes a thread further

    def claim(self, thread_id: str, owner: str, ttl: timedelta) -> Run | None:
        """Take the thread's lease for `ttl` if nobody holds a live one; counts an attempt (a queued run is running
        now). None if held."""
        now = utcnow()
        with self.db.writing() as conn:
            # One statement: the run comes back from the UPDATE (RETURNING, on PostgreSQL and SQLite alike).
            taken = (
                conn.execute(
                    _CLAIM,
                    {"thread": thread_id, "owner": owner, "now": now, "until": now + ttl},
                )
                .mappings()
                .first()
            )
        return run_from_row(taken) if taken is not None else None

    def renew(self, thread_id: str, owner: str, ttl: timedelta) -> bool:
        """Extend a held lease; False when it was lost (expired and taken by another worker)."""
        with self.db.writing() as conn:
            return bool(
                conn.execute(
                    update(runs)
                    .where(runs.c.thread_id == thread_id, runs.c.lease_owner == owner)
                    .values(lease_expires_at=utcnow() + ttl)
                ).rowcount
            )

    def release(self, thread_id: str, owner: str) -> None:
        """Give the lease back."""
        with self.db.writing() as conn:
            conn.execute(_RELEASE, {"thread": thread_id, "owner": owner})

    def release_held_by(self, owner_prefix: str) -> list[str]:
        """Give back every lease whose owner starts with `owner_prefix` (a process known dead); returns
        the threads."""
        held = runs.c.lease_owner.startswith(owner_prefix, autoescape=True)
        with self.db.writing() as conn:
            threads = list(conn.execute(select(runs.c.thread_id).where(held)).scalars())
            if threads:
                conn.execute(update(runs).where(held).values(lease_owner=None, lease_expires_at=None))
        return threads

    def not_shown(self, thread_id: str, retry_at: datetime, most_attempts: int, detail: dict[str, Any]) -> None:
        """A front-end could not show what the run owes: try again no sooner than `retry_at`, counting at most
        `most_attempts` attempts (so waiting for a front-end never gives the run up), audited with the reason."""
        capped = case((runs.c.attempts > most_attempts, most_attempts), else_=runs.c.attempts)
        with self.db.writing() as conn:
            conn.execute(update(runs).where(runs.c.thread_id == thread_id).values(next_attempt_at=retry_at, attempts=capped))
            record_audit(conn, "not_shown", None, None, {"thread_id": thread_id, **detail})

    def failed_attempt(self, thread_id: str, retry_at: datetime, detail: dict[str, Any]) -> None:
        """An attempt raised: try again no sooner than `retry_at`, and keep the reason in the audit log."""
        with self.db.writing() as conn:
            conn.execute(update(runs).where(runs.c.thread_id == thread_id).values(next_attempt_at=retry_at))
            record_audit(conn, "attempt_failed", None, None, {"thread_id": thread_id, **detail})
