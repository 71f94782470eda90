"""What people said about themselves: whether the runs they start tell them by DM, and whom their requests also
go to while they are away (and until when). Each change is audited in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, insert, or_, select, update

from approvals.models import utcnow
from approvals.store.audit_log import record_audit
from approvals.store.database import Database
from approvals.tables import people


class Person(BaseModel):
    """One person's choices; the defaults for someone who never said anything."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    # Unset: told (a run started from Slack tells its requester by DM unless they said `notify off`).
    notify_runs: bool | None = None
    delegate: str | None = None
    away_until: datetime | None = None

    @property
    def told_of_runs(self) -> bool:
        """Whether runs this person starts tell them of each decision and the outcome by DM."""
        return self.notify_runs is not False

    def delegate_at(self, now: datetime) -> str | None:
        """Who stands in for this person at `now` (None when they are not away)."""
        if self.delegate is None or (self.away_until is not None and self.away_until <= now):
            return None
        return self.delegate


class People:
    """Reads and writes what people said about themselves."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, user_id: str) -> Person:
        """What `user_id` said (the defaults when nothing)."""
        with self.db.connect() as conn:
            row = conn.execute(select(people).where(people.c.user_id == user_id)).mappings().first()
        return _person(row) if row else Person(user_id=user_id)

    def delegates(self, user_ids: Iterable[str], now: datetime | None = None) -> dict[str, str]:
        """Of `user_ids`, those away at `now`, each with who stands in for them."""
        wanted = sorted(set(user_ids))
        if not wanted:
            return {}
        moment = now or utcnow()
        with self.db.connect() as conn:
            rows = conn.execute(select(people).where(people.c.user_id.in_(wanted), people.c.delegate.is_not(None))).mappings()
            found = [_person(row) for row in rows]
        return {person.user_id: delegate for person in found if (delegate := person.delegate_at(moment))}

    def standing_in_for(self, delegate: str, now: datetime | None = None) -> list[str]:
        """The people away at `now` who named `delegate` to stand in for them."""
        moment = now or utcnow()
        away = or_(people.c.away_until.is_(None), people.c.away_until > moment)
        with self.db.connect() as conn:
            found = conn.execute(select(people.c.user_id).where(people.c.delegate == delegate, away).order_by(people.c.user_id))
            return list(found.scalars())

    def set_notify(self, user_id: str, on: bool) -> None:
        """Say whether runs `user_id` starts tell them by DM (audited)."""
        with self.db.writing() as conn:
            _upsert(conn, user_id, notify_runs=on)
            record_audit(conn, "notify_set", None, user_id, {"notify_runs": on})

    def set_away(self, user_id: str, delegate: str, until: datetime | None) -> None:
        """`user_id` is away until `until` (None: until they say they are back); `delegate` stands in (audited)."""
        with self.db.writing() as conn:
            _upsert(conn, user_id, delegate=delegate, away_until=until)
            record_audit(conn, "away_set", None, user_id, {"delegate": delegate, "until": until.isoformat() if until else None})

    def set_back(self, user_id: str) -> bool:
        """`user_id` is back: nobody stands in for them any more; False when they were not away (audited when they were)."""
        with self.db.writing() as conn:
            row = conn.execute(select(people.c.delegate).where(people.c.user_id == user_id)).first()
            if row is None or row.delegate is None:
                return False
            _upsert(conn, user_id, delegate=None, away_until=None)
            record_audit(conn, "away_ended", None, user_id, {"delegate": row.delegate})
            return True


def _person(row: object) -> Person:
    return Person.model_validate(dict(row))  # type: ignore[call-overload]


def _upsert(conn: Connection, user_id: str, **values: object) -> None:
    now = utcnow()
    changed = conn.execute(update(people).where(people.c.user_id == user_id).values(**values, updated_at=now)).rowcount
    if not changed:
        conn.execute(insert(people).values(user_id=user_id, **values, updated_at=now))
