"""The audit trail outside the app: rows streamed from the database (to export or verify them) and read
back from an export, in JSON Lines or CSV, a row at a time (constant memory however long the log).

An export holds every column and both hashes, so `countersign audit verify FILE` recomputes the chain
from the file alone. `--since` / `--until` pick a contiguous run of the chain (from the first row at or
after `since` to the last row before `until`), so a partial export verifies too, from its first link on.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Literal

from sqlalchemy import Engine, func, select

from approvals.audit import GENESIS, canonical_time
from approvals.audit_verify import ChainHead, ChainRow, Verdict, verify_chain
from approvals.tables import audit_head, audit_log

Format = Literal["jsonl", "csv"]
CSV_COLUMNS = ["id", "at", "event", "approval_id", "actor", "detail", "prev_hash", "row_hash"]
# Rows fetched from the database at a time (a server-side cursor on PostgreSQL).
_FETCH = 2000


def id_range(engine: Engine, since: datetime | None, until: datetime | None) -> tuple[int | None, int | None]:
    """The first and last ids of the contiguous run of rows between `since` and `until` (None: open)."""
    with engine.connect() as conn:
        first = conn.execute(select(func.min(audit_log.c.id)).where(audit_log.c.at >= since)).scalar() if since else None
        last = conn.execute(select(func.max(audit_log.c.id)).where(audit_log.c.at < until)).scalar() if until else None
    return first, last


def stored_rows(engine: Engine, first_id: int | None = None, last_id: int | None = None) -> Iterator[ChainRow]:
    """The audit rows in chain order, streamed from the database."""
    query = select(audit_log).order_by(audit_log.c.id)
    if first_id is not None:
        query = query.where(audit_log.c.id >= first_id)
    if last_id is not None:
        query = query.where(audit_log.c.id <= last_id)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=_FETCH).execute(query):
            yield ChainRow(
                id=row.id,
                event=row.event,
                approval_id=row.approval_id,
                actor=row.actor,
                detail=row.detail,
                at=row.at,
                prev_hash=row.prev_hash,
                row_hash=row.row_hash,
                where=f"row {row.id}",
            )


def stored_head(engine: Engine) -> ChainHead | None:
    """The chain's head row, if the database has one."""
    with engine.connect() as conn:
        head = conn.execute(select(audit_head.c.last_id, audit_head.c.last_hash).where(audit_head.c.id == 1)).first()
    return None if head is None else ChainHead(head.last_id, head.last_hash)


def write_export(rows: Iterator[ChainRow], out: IO[str], format: Format) -> int:
    """Write `rows` to `out` as JSON Lines or CSV; returns how many were written."""
    count = 0
    if format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            detail = json.dumps(row.detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            writer.writerow(
                [
                    row.id,
                    canonical_time(row.at),
                    row.event,
                    row.approval_id or "",
                    row.actor or "",
                    detail,
                    row.prev_hash,
                    row.row_hash,
                ]
            )
            count += 1
        return count
    for row in rows:
        record = {
            "id": row.id,
            "at": canonical_time(row.at),
            "event": row.event,
            "approval_id": row.approval_id,
            "actor": row.actor,
            "detail": row.detail,
            "prev_hash": row.prev_hash,
            "row_hash": row.row_hash,
        }
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count


class ExportUnreadable(ValueError):
    """A file that is not a Countersign audit export (the message names the line)."""


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def exported_rows(source: IO[str]) -> Iterator[ChainRow]:
    """The rows of an export (JSON Lines or CSV, told apart by its first line), one at a time."""
    first = source.readline()
    if not first:
        return
    if first.startswith("{"):
        yield from _jsonl_rows(first, source)
    elif first.strip() == ",".join(CSV_COLUMNS):
        yield from _csv_rows(source)
    else:
        raise ExportUnreadable("line 1: neither a JSON Lines export nor a CSV export with the expected header")


def _jsonl_rows(first: str, source: IO[str]) -> Iterator[ChainRow]:
    number = 0
    for number, line in enumerate(_chain(first, source), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            yield ChainRow(
                id=int(record["id"]),
                event=record["event"],
                approval_id=record.get("approval_id"),
                actor=record.get("actor"),
                detail=record["detail"],
                at=_parse_time(record["at"]),
                prev_hash=record["prev_hash"],
                row_hash=record["row_hash"],
                where=f"line {number} (row {record['id']})",
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ExportUnreadable(f"line {number}: not an audit row ({error})") from None


def _csv_rows(source: IO[str]) -> Iterator[ChainRow]:
    # The header is line 1; each row is one line (the detail's JSON escapes its newlines).
    for number, record in enumerate(csv.reader(source), start=2):
        try:
            row_id, at, event, approval_id, actor, detail, prev_hash, digest = record
            yield ChainRow(
                id=int(row_id),
                event=event,
                approval_id=approval_id or None,
                actor=actor or None,
                detail=json.loads(detail),
                at=_parse_time(at),
                prev_hash=prev_hash,
                row_hash=digest,
                where=f"line {number} (row {row_id})",
            )
        except ValueError as error:
            raise ExportUnreadable(f"line {number}: not an audit row ({error})") from None


def _chain(first: str, rest: IO[str]) -> Iterator[str]:
    yield first
    yield from rest


def verify_database(engine: Engine) -> Verdict:
    """Verify the log in the database against its head row (read first: writers may go on meanwhile)."""
    head = stored_head(engine)
    return verify_chain(stored_rows(engine), head=head)


def verify_export(source: IO[str]) -> Verdict:
    """Verify an export: from the genesis link when it starts the log, else from its own first link
    (a partial export). `ExportUnreadable` for a file that is not one."""
    rows = exported_rows(source)
    first = next(rows, None)
    if first is None:
        return verify_chain([])

    def all_rows() -> Iterator[ChainRow]:
        yield first
        yield from rows

    return verify_chain(all_rows(), anchor=GENESIS if first.prev_hash == GENESIS else None)


def export_text(rows: Iterator[ChainRow], format: Format) -> str:
    """An export as text (for tests and small logs)."""
    out = io.StringIO()
    write_export(rows, out, format)
    return out.getvalue()
