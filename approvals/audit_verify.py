"""Verifying the audit chain (see `approvals.audit` for what each row stores), from the database or from
an export, in one pass and constant memory, naming the first row altered, removed or inserted."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from approvals.audit import GENESIS, row_hash

# How far back an out-of-place link is looked up (to name inserted rows), and how far ids are tried
# when a row's hash matches its content under another id (rows renumbered after a removal or insert).
_LOOKBACK = 16
_RENUMBER = 16


@dataclass(frozen=True)
class ChainRow:
    """One audit row as stored or exported, and where it was read (`row 12`, `line 13`)."""

    id: int
    event: str
    approval_id: str | None
    actor: str | None
    detail: Any
    at: datetime
    prev_hash: str
    row_hash: str
    where: str

    def hash_as(self, id: int | None = None) -> str:
        """The hash of this row's content (under another id, to recognise a renumbered row)."""
        return row_hash(
            self.id if id is None else id, self.event, self.approval_id, self.actor, self.detail, self.at, self.prev_hash
        )


@dataclass(frozen=True)
class ChainHead:
    """What the head row says: the last row's id and hash."""

    last_id: int
    last_hash: str


@dataclass(frozen=True)
class Verdict:
    """The outcome of a verification: how many rows held, and the first problem, if any."""

    rows: int
    first_id: int | None
    last_id: int | None
    last_hash: str
    anchored: bool
    problem: str | None = None
    row: str | None = None

    @property
    def ok(self) -> bool:
        """True when every row is intact and in place."""
        return self.problem is None

    def summary(self) -> str:
        """One line for a person: what was checked, and what broke first."""
        if not self.ok:
            return f"audit chain BROKEN at {self.row}: {self.problem} ({self.rows} rows before it verified)"
        if not self.rows:
            return "audit chain intact: no rows"
        start = "" if self.anchored else " (a partial export: its first row's link is taken as given)"
        return f"audit chain intact: {self.rows} rows, ids {self.first_id}–{self.last_id}, head {self.last_hash}{start}"


def verify_chain(rows: Iterable[ChainRow], *, anchor: str | None = GENESIS, head: ChainHead | None = None) -> Verdict:
    """Check every row's hash and link, in order; stop at the first broken one and say what happened to it.

    `anchor` is the `prev_hash` the first row must carry (64 zeros from the start of the log; None for a
    partial export, whose first link cannot be checked). `head`, read from the database before its rows,
    also catches rows removed from the end, or rewritten up to it.
    """
    stream: Iterator[ChainRow] = iter(rows)
    verified: deque[ChainRow] = deque(maxlen=_LOOKBACK)
    count = 0
    first_id: int | None = None
    expected = anchor
    upcoming = next(stream, None)
    while upcoming is not None:
        row, upcoming = upcoming, next(stream, None)
        if expected is None:
            expected = row.prev_hash
        intact = row.hash_as() == row.row_hash
        linked = row.prev_hash == expected
        if intact and linked and head is not None and row.id == head.last_id and row.row_hash != head.last_hash:
            problem = (
                f"the chain's head names row {head.last_id} with hash {head.last_hash[:12]}…, {row.where} has "
                f"{row.row_hash[:12]}…: rows up to it were rewritten"
            )
            return _verdict(count, first_id, verified, anchor, problem, row.where)
        if intact and linked:
            verified.append(row)
            expected = row.row_hash
            count += 1
            first_id = row.id if first_id is None else first_id
            continue
        problem, where = _diagnose(row, upcoming, list(verified), expected, intact)
        return _verdict(count, first_id, verified, anchor, problem, where)
    # Rows appended after the head was read (by a writer running meanwhile) chain on like any other.
    last_id = verified[-1].id if verified else 0
    if head is not None and head.last_id > last_id:
        return _verdict(
            count,
            first_id,
            verified,
            anchor,
            f"rows {last_id + 1}–{head.last_id} were removed from the end of the log",
            f"row {last_id + 1}",
        )
    return _verdict(count, first_id, verified, anchor, None, None)


def _verdict(
    count: int, first_id: int | None, verified: deque[ChainRow], anchor: str | None, problem: str | None, where: str | None
) -> Verdict:
    last = verified[-1] if verified else None
    return Verdict(
        rows=count,
        first_id=first_id,
        last_id=last.id if last else None,
        last_hash=last.row_hash if last else (anchor or GENESIS),
        anchored=anchor is not None,
        problem=problem,
        row=where,
    )


def _diagnose(row: ChainRow, upcoming: ChainRow | None, verified: list[ChainRow], expected: str, intact: bool) -> tuple[str, str]:
    """Why `row` breaks the chain, naming the row that was altered, removed or inserted."""
    before = verified[-1] if verified else None
    if intact:
        # The row is as written, but does not follow the row before it.
        for position, earlier in enumerate(verified[:-1]):
            if row.prev_hash == earlier.row_hash:
                intruder = verified[position + 1]
                return (
                    f"{intruder.where} was inserted: {row.where} follows {earlier.where} in the chain",
                    intruder.where,
                )
        if before is None:
            return f"{row.where} does not start the chain: rows before it were removed or it was altered", row.where
        if row.id > before.id + 1:
            missing = f"row {before.id + 1}" if row.id == before.id + 2 else f"rows {before.id + 1}–{row.id - 1}"
            return f"{missing} removed: {row.where} does not follow {before.where}", f"row {before.id + 1}"
        return (
            f"{before.where} was altered and its hash recomputed (or rows after it were removed and the rest "
            f"renumbered): {row.where} does not follow it",
            before.where,
        )
    # The row's content does not match its hash: changed, or renumbered after rows were removed or inserted.
    for shift in range(1, _RENUMBER + 1):
        if row.hash_as(row.id + shift) == row.row_hash:
            first_gone = before.id + 1 if before else row.id
            gone = f"row {first_gone}" if row.id + shift - 1 == first_gone else f"rows {first_gone}–{row.id + shift - 1}"
            return f"{gone} removed and the rows after renumbered: {row.where} was row {row.id + shift}", f"row {first_gone}"
        if row.id - shift > 0 and row.hash_as(row.id - shift) == row.row_hash:
            inserted = f"row {row.id - shift}" if shift == 1 else f"rows {row.id - shift}–{row.id - 1}"
            return (
                f"{inserted} inserted and the rows after renumbered: {row.where} was row {row.id - shift}",
                f"row {row.id - shift}",
            )
    if upcoming is not None and upcoming.prev_hash == expected:
        return f"{row.where} was inserted: the row after it follows the row before it", row.where
    return f"{row.where} was altered: its content does not match its hash", row.where
