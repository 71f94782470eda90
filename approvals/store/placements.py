"""Where front-ends showed things: each front-end's own references (Slack: a channel and a message's ts), by
subject, so the core's rows carry nothing of any one front-end."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.sql.elements import BindParameter

from approvals.models import utcnow
from approvals.store.database import Database
from approvals.tables import placements

_FRONT_END: BindParameter[str] = bindparam("b_front_end")
_SUBJECT: BindParameter[str] = bindparam("b_subject")
_NOW: BindParameter[datetime] = bindparam("now")
_REF = select(placements.c.ref).where(placements.c.front_end == _FRONT_END, placements.c.subject == _SUBJECT)
_ADD = insert(placements).values(front_end=_FRONT_END, subject=_SUBJECT, ref=bindparam("b_ref"), noted_at=_NOW)
_CHANGE = (
    update(placements)
    .where(placements.c.front_end == _FRONT_END, placements.c.subject == _SUBJECT)
    .values(ref=bindparam("b_ref"), noted_at=_NOW)
)


def run_subject(thread_id: str) -> str:
    """The subject of a run's own place (its thread, where a front-end has one)."""
    return f"run:{thread_id}"


def progress_subject(thread_id: str) -> str:
    """The subject of a run's progress."""
    return f"progress:{thread_id}"


def request_subject(approval_id: str, stage: int = 0) -> str:
    """The subject of a request as first shown (stage 0), or as shown at an escalation stage."""
    return f"request:{approval_id}" if stage == 0 else f"request:{approval_id}:stage:{stage}"


def dm_subject(approval_id: str, user_id: str) -> str:
    """The subject of a request as shown to one person directly (a front-end's direct message)."""
    return f"request:{approval_id}:dm:{user_id}"


class Placements:
    """Notes and reads front-ends' references."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def note(
        self, front_end: str, subject: str, ref: dict[str, Any], *, first_only: bool = False, conn: Connection | None = None
    ) -> dict[str, Any]:
        """Note where `front_end` showed `subject`, replacing what it noted before (unless `first_only`); returns
        the reference that stands. In `conn`'s transaction, when given."""
        params = {"b_front_end": front_end, "b_subject": subject, "b_ref": ref, "now": utcnow()}
        # Each subject is noted by the one process that shows it (the job holding its run's lease, or the
        # click that decided it), so read-then-write needs no upsert.
        with self.db.writing(conn) as writing:
            noted = writing.execute(_REF, params).scalar_one_or_none()
            if noted is None:
                writing.execute(_ADD, params)
            elif first_only:
                return dict(noted)
            else:
                writing.execute(_CHANGE, params)
        return ref

    def of(self, front_end: str, subject: str) -> dict[str, Any] | None:
        """Where `front_end` showed `subject`, if it did."""
        with self.db.connect() as conn:
            ref = conn.execute(_REF, {"b_front_end": front_end, "b_subject": subject}).scalar_one_or_none()
        return dict(ref) if ref is not None else None

    def with_prefix(self, front_end: str, prefix: str) -> dict[str, dict[str, Any]]:
        """Where `front_end` showed each subject that starts with `prefix` (a request's DMs: `dm_subject(id, "")`)."""
        query = select(placements.c.subject, placements.c.ref).where(
            placements.c.front_end == front_end, placements.c.subject.startswith(prefix, autoescape=True)
        )
        with self.db.connect() as conn:
            return {row.subject: dict(row.ref) for row in conn.execute(query)}

    def of_many(self, front_end: str, subjects: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Where `front_end` showed each of `subjects` (those it showed)."""
        if not subjects:
            return {}
        query = select(placements.c.subject, placements.c.ref).where(
            placements.c.front_end == front_end, placements.c.subject.in_(list(subjects))
        )
        with self.db.connect() as conn:
            return {row.subject: dict(row.ref) for row in conn.execute(query)}
