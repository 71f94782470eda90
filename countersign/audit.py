"""`countersign audit export` and `countersign audit verify`: the audit trail for auditors, outside the app."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import Engine

from approvals.audit_export import (
    ExportUnreadable,
    id_range,
    stored_rows,
    verify_database,
    verify_export,
    write_export,
)
from approvals.audit_verify import ChainRow
from approvals.models import parse_duration, utcnow
from approvals.schema import SchemaNotCurrent, check_schema
from approvals.settings import load_settings
from approvals.store import create_db_engine


def moment(text: str) -> datetime:
    """A point in time from the command line: ISO 8601 (`2026-11-01`, `2026-11-01T10:00Z`, UTC unless
    it says otherwise) or a duration back from now (`7d`, `12h`)."""
    try:
        return utcnow() - parse_duration(text)
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a date/time like 2026-11-01T10:00Z nor a duration like 7d"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _engine() -> Engine:
    settings = load_settings()
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        check_schema(engine)
    except SchemaNotCurrent as error:
        sys.exit(f"countersign: DATABASE_URL: {error}")
    return engine


def export(args: argparse.Namespace) -> None:
    """Stream the audit rows (all, or a contiguous run between --since and --until) with their hashes."""
    engine = _engine()
    first, last = id_range(engine, args.since, args.until)
    if (args.since and first is None) or (args.until and last is None):
        rows: Iterator[ChainRow] = iter(())  # nothing in the window
    else:
        rows = stored_rows(engine, first, last)
    if args.output and args.output != "-":
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            count = write_export(rows, out, args.format)
        print(f"countersign audit export: {count} rows to {args.output}", file=sys.stderr)
    else:
        write_export(rows, sys.stdout, args.format)


def verify(args: argparse.Namespace) -> None:
    """Check the chain in the database, or in an export; exit 1 naming the first row that broke it."""
    if args.file:
        try:
            with sys.stdin if args.file == "-" else open(args.file, encoding="utf-8", newline="") as source:
                verdict = verify_export(source)
        except ExportUnreadable as error:
            sys.exit(f"countersign audit verify: {args.file}: {error}")
        except OSError as error:
            sys.exit(f"countersign audit verify: {args.file}: {error.strerror}")
    else:
        verdict = verify_database(_engine())
    print(verdict.summary())
    if not verdict.ok:
        sys.exit(1)


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `countersign audit export|verify`."""
    audit = commands.add_parser("audit", help="export the audit trail with its hash chain, or verify it")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    out = actions.add_parser("export", help="stream audit rows with their hashes (JSON Lines or CSV)")
    out.add_argument("--since", type=moment, help="from this moment (2026-11-01, 2026-11-01T10:00Z, or 7d ago)")
    out.add_argument("--until", type=moment, help="up to (not including) this moment")
    out.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    out.add_argument("--output", "-o", help="write to this file instead of standard output")
    out.set_defaults(func=export)
    check = actions.add_parser("verify", help="check the chain in the database, or in an export FILE ('-': stdin)")
    check.add_argument("file", nargs="?", type=str, help="an export from `countersign audit export`")
    check.set_defaults(func=verify)
