"""Runs and their leases: one row per LangGraph thread, and the lease one worker at a time holds to take it further."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, insert, or_, select, update
from sqlalchemy.sql.elements import BindParameter

from approvals.models import Ending, Run, RunStatus, utcnow
from approvals.store.audit_log import record_audit
from approvals.store.database import WarmedSection
from approvals.tables import runs


def run_from_row(row: RowMapping) -> Run:
    """A run as read from its row (or from a row of a join that holds its columns)."""
    return Run.model_validate({key: row[key] for key in Run.model_fields if key in row})


# A run, taking its lease, and what a job writes at each step of it: built once, as building statements and
# their cache keys on every call is a visible share of a job's CPU.
_THREAD: BindParameter[str] = bindparam("thread")
_NOW: BindParameter[datetime] = bindparam("now")
_GET_RUN = select(runs).where(runs.c.thread_id == _THREAD)
_CLAIM = (
    update(runs)
    .where(
        runs.c.thread_id == _THREAD,
        or_(runs.c.lease_owner.is_(None), runs.c.lease_expires_at < _NOW, runs.c.lease_owner == bindparam("owner")),
    )
    .values(lease_owner=bindparam("owner"), lease_expires_at=bindparam("until"), attempts=runs.c.attempts + 1)
    .returning(*runs.c)
)
_FINISH_RUN = (
    update(runs)
    .where(runs.c.thread_id == _THREAD)
    .values(
        status=bindparam("b_status"),
        outcome=bindparam("b_outcome"),
        ending=bindparam("b_ending"),
        attempts=0,
        next_attempt_at=None,
        updated_at=_NOW,
    )
)
_OUTCOME_POSTED = update(runs).where(runs.c.thread_id == _THREAD).values(outcome_posted_at=_NOW)
_RELEASE = (
    update(runs)
    .where(runs.c.thread_id == _THREAD, runs.c.lease_owner == bindparam("owner"))
    .values(lease_owner=None, lease_expires_at=None)
)
_PROGRESSED = update(runs).where(runs.c.thread_id == _THREAD).values(attempts=0, next_attempt_at=None)


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
            values = run.model_dump(exclude={"attempts", "outcome_posted_at", "ending"})
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

    def update_run(self, thread_id: str, **values: Any) -> None:
        """Set fields of a run (its status)."""
        if "status" in values:
            values["status"] = RunStatus(values["status"]).value
        with self.db.writing() as conn:
            conn.execute(update(runs).where(runs.c.thread_id == thread_id).values(**values, updated_at=utcnow()))

    def finish_run(self, thread_id: str, status: RunStatus, ending: Ending) -> None:
        """Record how a run ended (its outcome: the agent's answer, if any); then owed to people until `outcome_posted`."""
        values = {"b_status": status.value, "b_outcome": ending.answer, "b_ending": ending.model_dump(mode="json")}
        with self.db.writing() as conn:
            conn.execute(_FINISH_RUN, {"thread": thread_id, "now": utcnow(), **values})
            record_audit(conn, f"run_{status.value}", None, None, {"thread_id": thread_id})

    def outcome_posted(self, thread_id: str) -> None:
        """The run's ending was told (or had nowhere to go): nothing more is owed."""
        with self.db.writing() as conn:
            conn.execute(_OUTCOME_POSTED, {"thread": thread_id, "now": utcnow()})

    # Leases: one worker at a time takes a thread further

    def claim(self, thread_id: str, owner: str, ttl: timedelta) -> Run | None:
        """Take the thread's lease for `ttl` if nobody holds a live one; counts an attempt. None if held."""
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

    def progressed(self, thread_id: str) -> None:
        """The run got somewhere (paused, delivered a decision, finished): its attempts start again."""
        with self.db.writing() as conn:
            conn.execute(_PROGRESSED, {"thread": thread_id})

    def failed_attempt(self, thread_id: str, retry_at: datetime, detail: dict[str, Any]) -> None:
        """An attempt raised: try again no sooner than `retry_at`, and keep the reason in the audit log."""
        with self.db.writing() as conn:
            conn.execute(update(runs).where(runs.c.thread_id == thread_id).values(next_attempt_at=retry_at))
            record_audit(conn, "attempt_failed", None, None, {"thread_id": thread_id, **detail})
