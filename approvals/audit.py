"""Appending to the audit log: every audit row, from every part of Countersign, is written here, inside
the caller's transaction, so it commits or rolls back with what it records.

The log is a hash chain. Each row stores `prev_hash`, the `row_hash` of the row before it (64 zeros
for the first row), and `row_hash`, the SHA-256 (hex) of its canonical content:

    json.dumps({"id": …, "event": …, "approval_id": …, "actor": …, "detail": {…},
                "at": "2026-11-22T10:00:00.123456Z", "prev_hash": …},
               sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")

`at` is UTC with microseconds and a `Z`; an empty `approval_id` or `actor` is written as null (CSV cannot
tell them apart). Because the content includes `prev_hash`, changing any row changes every hash after
it. Appending first locks the chain's head row (`countersign_audit_head`), so concurrent writers (the
bot's processes, every worker) queue there until the one before them commits: the chain cannot fork.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, insert, update

from approvals.models import utcnow
from approvals.tables import audit_head, audit_log

# The `prev_hash` of the first row.
GENESIS = "0" * 64
_HEAD = 1
# Every decision and run step appends here: the statements are built once.
_TAKE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == _HEAD)
    .values(last_id=audit_head.c.last_id)
    .returning(audit_head.c.last_id, audit_head.c.last_hash)
)
_APPEND = insert(audit_log)
_MOVE_HEAD = update(audit_head).where(audit_head.c.id == _HEAD).values(last_id=bindparam("to_id"), last_hash=bindparam("to_hash"))


class AuditEntry(NamedTuple):
    """One row to append: what happened, to which request, by whom, the details, and when."""

    event: str
    approval_id: str | None
    actor: str | None
    detail: dict[str, Any]
    at: datetime | None = None


class ChainUnavailable(RuntimeError):
    """The audit chain's head row is missing: the database was not made by `countersign migrate`."""


def canonical_time(at: datetime) -> str:
    """A moment as the canonical content writes it: UTC, microseconds, `Z`."""
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: audit times are UTC-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_content(
    id: int, event: str, approval_id: str | None, actor: str | None, detail: Any, at: datetime, prev_hash: str
) -> bytes:
    """The bytes a row's hash is taken of (the format is fixed: changing it would break every chain)."""
    content = {
        "id": id,
        "event": event,
        "approval_id": approval_id or None,
        "actor": actor or None,
        "detail": detail,
        "at": canonical_time(at),
        "prev_hash": prev_hash,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def row_hash(id: int, event: str, approval_id: str | None, actor: str | None, detail: Any, at: datetime, prev_hash: str) -> str:
    """The SHA-256 (hex) of a row's canonical content."""
    return hashlib.sha256(canonical_content(id, event, approval_id, actor, detail, at, prev_hash)).hexdigest()


def as_stored(detail: dict[str, Any]) -> Any:
    """`detail` as it reads back from the JSON column (tuples become lists, keys text), so the hash taken
    now is the hash `verify` recomputes later."""
    return json.loads(json.dumps(detail))


def append_audit(conn: Connection, entries: list[AuditEntry]) -> None:
    """Append `entries`, in order, on the caller's connection (its transaction), chained to the last row."""
    if not entries:
        return
    # A write first: it takes the head's row lock (PostgreSQL) or the database's write lock (SQLite)
    # before anything is read, so the head read here is the latest committed one and stays ours until
    # the caller commits.
    head = conn.execute(_TAKE_HEAD).first()
    if head is None:
        raise ChainUnavailable("the audit chain has no head row: run `countersign migrate`")
    last_id, last_hash = head
    now = utcnow()
    rows = []
    for entry in entries:
        last_id += 1
        detail = as_stored(entry.detail)
        at = entry.at or now
        digest = row_hash(last_id, entry.event, entry.approval_id, entry.actor, detail, at, last_hash)
        rows.append(
            {
                "id": last_id,
                "event": entry.event,
                "approval_id": entry.approval_id,
                "actor": entry.actor,
                "detail": detail,
                "at": at,
                "prev_hash": last_hash,
                "row_hash": digest,
            }
        )
        last_hash = digest
    conn.execute(_APPEND, rows)
    conn.execute(_MOVE_HEAD, {"to_id": last_id, "to_hash": last_hash})
