"""Deliveries already seen: what makes a retried or redelivered request from a front-end do nothing twice.

A delivery is claimed by its key before it is handled (one INSERT, so of two deliveries with one key, on any
replica, exactly one claims it), then its answer is kept beside the claim. A claim whose handling failed is
released, so a retry handles it. Rows are kept `KEPT_FOR` (Slack's last retry comes about 5 minutes after the
first delivery); whoever claims prunes the older ones (`prune`), off the way of any answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from approvals.models import utcnow
from approvals.store.database import Database
from approvals.tables import deliveries

KEPT_FOR = timedelta(hours=1)


@dataclass(frozen=True)
class SeenDelivery:
    """A delivery claimed before: when, and its answer once one was kept (an empty answer is not kept)."""

    received_at: datetime
    answer: str | None
    content_type: str | None
    answered: bool


class Deliveries:
    """Claims, answers and releases deliveries by key."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, key: str, now: datetime | None = None) -> SeenDelivery | None:
        """Claim the delivery `key`: None when this call claimed it (handle it), else what was seen of it."""
        moment = now or utcnow()
        try:
            with self.db.writing() as conn:
                conn.execute(insert(deliveries).values(key=key, received_at=moment))
        except IntegrityError:
            seen = self.seen(key)
            # Released between the INSERT and this read: claim it again.
            return seen if seen is not None else self.claim(key, now)
        return None

    def seen(self, key: str) -> SeenDelivery | None:
        """What was seen of the delivery `key`, if it was claimed."""
        with self.db.connect() as conn:
            row = conn.execute(select(deliveries).where(deliveries.c.key == key)).mappings().first()
        if row is None:
            return None
        return SeenDelivery(row["received_at"], row["answer"], row["content_type"], row["answered_at"] is not None)

    def answered(self, key: str, answer: str, content_type: str | None) -> None:
        """Keep what the delivery `key` was answered, for its retries."""
        with self.db.writing() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.key == key)
                .values(answer=answer, content_type=content_type, answered_at=utcnow())
            )

    def release(self, key: str) -> None:
        """Forget an unanswered claim (its handling failed): a retry handles the delivery again."""
        with self.db.writing() as conn:
            conn.execute(delete(deliveries).where(deliveries.c.key == key, deliveries.c.answered_at.is_(None)))

    def prune(self, now: datetime | None = None) -> None:
        """Forget the deliveries older than `KEPT_FOR`: Slack retries none of them any more."""
        with self.db.writing() as conn:
            conn.execute(delete(deliveries).where(deliveries.c.received_at < (now or utcnow()) - KEPT_FOR))
