"""The audit trail is a hash chain: exports verify, concurrent writers never fork it, and a row changed,
removed or inserted in the middle (in the database or in an export) is named by `verify`."""

from __future__ import annotations

import io
import json
import os
import threading
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from approvals.audit import GENESIS, AuditEntry, append_audit, row_hash
from approvals.audit_export import (
    export_text,
    exported_rows,
    id_range,
    stored_rows,
    verify_database,
    verify_export,
    write_export,
)
from approvals.audit_verify import Verdict
from approvals.models import utcnow
from approvals.settings import Settings
from approvals.store import Store, create_db_engine
from approvals.tables import audit_log
from bot.ids import ActionId
from countersign.migrate import migrate
from tests import legacy_schema
from tests.stack import Stack


def _log(store: Store, count: int) -> None:
    """`count` audit rows, as the store writes them (one transaction each)."""
    for n in range(count):
        store.audit_log.audit("decided", f"a{n:031d}", f"U{n:04d}", {"actions": [0], "type": "approve", "n": n})


def _verify(store: Store) -> Verdict:
    return verify_database(store.db.engine)


def _verify_text(export: str) -> Verdict:
    return verify_export(io.StringIO(export))


def test_each_row_stores_the_hash_of_the_row_before_it(empty_store: Store) -> None:
    _log(empty_store, 3)

    rows = list(stored_rows(empty_store.db.engine))

    assert [row.prev_hash for row in rows] == [GENESIS, rows[0].row_hash, rows[1].row_hash]
    assert rows[2].row_hash == row_hash(3, "decided", rows[2].approval_id, "U0002", rows[2].detail, rows[2].at, rows[1].row_hash)
    assert _verify(empty_store).summary() == f"audit chain intact: 3 rows, ids 1–3, head {rows[2].row_hash}"


def test_concurrent_writers_never_fork_the_chain(empty_store: Store) -> None:
    def write(worker: int) -> None:
        for n in range(20):
            empty_store.audit_log.audit("voted", None, f"U{worker}", {"n": n})

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    verdict = _verify(empty_store)
    assert verdict.ok, verdict.summary()
    assert (verdict.rows, verdict.first_id, verdict.last_id) == (120, 1, 120)


def test_a_row_changed_in_the_database_is_named(empty_store: Store) -> None:
    _log(empty_store, 10)
    with empty_store.db.engine.begin() as conn:
        conn.execute(text("UPDATE countersign_audit_log SET actor = 'U0MALLORY' WHERE id = 5"))

    verdict = _verify(empty_store)

    assert not verdict.ok
    assert (
        verdict.summary()
        == "audit chain BROKEN at row 5: row 5 was altered: its content does not match its hash (4 rows before it verified)"
    )


def test_a_row_changed_and_rehashed_in_the_database_is_named(empty_store: Store) -> None:
    _log(empty_store, 10)
    row = next(r for r in stored_rows(empty_store.db.engine) if r.id == 5)
    forged = row_hash(5, row.event, row.approval_id, "U0MALLORY", row.detail, row.at, row.prev_hash)
    with empty_store.db.engine.begin() as conn:
        conn.execute(text("UPDATE countersign_audit_log SET actor = 'U0MALLORY', row_hash = :h WHERE id = 5"), {"h": forged})

    verdict = _verify(empty_store)

    assert verdict.row == "row 5" and verdict.problem.startswith("row 5 was altered and its hash recomputed")


def test_a_row_removed_from_the_middle_of_the_database_is_named(empty_store: Store) -> None:
    _log(empty_store, 10)
    with empty_store.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM countersign_audit_log WHERE id = 6"))

    verdict = _verify(empty_store)

    assert verdict.row == "row 6"
    assert verdict.problem == "row 6 removed: row 7 does not follow row 5"


def test_a_row_removed_and_the_rest_renumbered_is_named(empty_store: Store) -> None:
    _log(empty_store, 10)
    with empty_store.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM countersign_audit_log WHERE id = 6"))
        # Two steps, so no moment has two rows with one id.
        conn.execute(text("UPDATE countersign_audit_log SET id = -id WHERE id > 6"))
        conn.execute(text("UPDATE countersign_audit_log SET id = -id - 1 WHERE id < 0"))

    verdict = _verify(empty_store)

    assert verdict.row == "row 6"
    assert verdict.problem == "row 6 removed and the rows after renumbered: row 6 was row 7"


def test_a_row_inserted_in_the_middle_of_the_database_is_named(empty_store: Store) -> None:
    _log(empty_store, 10)
    fourth = next(r for r in stored_rows(empty_store.db.engine) if r.id == 4)
    detail = {"actions": [0], "type": "approve"}
    forged = row_hash(5, "decided", "a" * 32, "U0MALLORY", detail, fourth.at, fourth.row_hash)
    with empty_store.db.engine.begin() as conn:
        conn.execute(text("UPDATE countersign_audit_log SET id = -id WHERE id > 4"))
        conn.execute(text("UPDATE countersign_audit_log SET id = -id + 1 WHERE id < 0"))
        conn.execute(
            insert(audit_log).values(
                id=5,
                event="decided",
                approval_id="a" * 32,
                actor="U0MALLORY",
                detail=detail,
                at=fourth.at,
                prev_hash=fourth.row_hash,
                row_hash=forged,
            )
        )

    verdict = _verify(empty_store)

    assert verdict.row == "row 5"
    assert verdict.problem == "row 5 inserted and the rows after renumbered: row 6 was row 5"


def test_rows_removed_from_the_end_are_named_by_the_chain_head(empty_store: Store) -> None:
    _log(empty_store, 10)
    with empty_store.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM countersign_audit_log WHERE id >= 9"))

    assert _verify(empty_store).problem == "rows 9–10 were removed from the end of the log"


def test_exports_in_both_formats_verify_and_name_the_line_changed(empty_store: Store) -> None:
    _log(empty_store, 8)
    for format in ("jsonl", "csv"):
        export = export_text(stored_rows(empty_store.db.engine), format)
        assert _verify_text(export).ok, format

        lines = export.splitlines(keepends=True)
        line = 4 if format == "jsonl" else 5  # row 4; a CSV export has a header line
        changed = lines[line - 1].replace("U0003", "U0666")

        verdict = _verify_text("".join([*lines[: line - 1], changed, *lines[line:]]))
        assert verdict.row == f"line {line} (row 4)", format
        assert "was altered" in str(verdict.problem), format


def test_a_line_removed_from_an_export_is_named(empty_store: Store) -> None:
    _log(empty_store, 8)
    lines = export_text(stored_rows(empty_store.db.engine), "jsonl").splitlines(keepends=True)

    verdict = _verify_text("".join(lines[:3] + lines[4:]))

    assert verdict.problem == "row 4 removed: line 4 (row 5) does not follow line 3 (row 3)"


def test_a_line_inserted_in_an_export_is_named(empty_store: Store) -> None:
    _log(empty_store, 8)
    lines = export_text(stored_rows(empty_store.db.engine), "jsonl").splitlines(keepends=True)
    third = next(exported_rows(io.StringIO(lines[2])))
    forged_hash = row_hash(4, "decided", None, "U0MALLORY", {}, third.at, third.row_hash)
    forged = (
        f'{{"id":4,"at":"{third.at:%Y-%m-%dT%H:%M:%S.%fZ}","event":"decided","approval_id":null,"actor":"U0MALLORY",'
        f'"detail":{{}},"prev_hash":"{third.row_hash}","row_hash":"{forged_hash}"}}\n'
    )

    verdict = _verify_text("".join([*lines[:3], forged, *lines[3:]]))

    assert verdict.row == "line 4 (row 4)"
    assert verdict.problem == "line 4 (row 4) was inserted: line 5 (row 4) follows line 3 (row 3) in the chain"


def test_an_export_since_a_moment_is_contiguous_and_verifies_from_its_first_link(empty_store: Store) -> None:
    _log(empty_store, 6)
    sixth_at = [r for r in stored_rows(empty_store.db.engine)][3].at

    first, last = id_range(empty_store.db.engine, sixth_at, None)
    verdict = _verify_text(export_text(stored_rows(empty_store.db.engine, first, last), "csv"))

    assert (first, last) == (4, None)
    assert verdict.ok and (verdict.first_id, verdict.last_id) == (4, 6)
    assert "partial export" in verdict.summary()


def test_audit_rows_from_before_the_chain_are_chained_by_the_migration(empty_database_url: str) -> None:
    settings = Settings(database_url=empty_database_url)
    engine = create_db_engine(settings.sqlalchemy_url)
    legacy_schema.metadata.create_all(engine)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(legacy_schema.audit_log),
            [
                {
                    "event": "setting_changed",
                    "approval_id": None,
                    "actor": "U0OLD",
                    "detail": {"scope": "p", "n": n},
                    "at": now - timedelta(minutes=n),
                }
                for n in range(5)
            ],
        )

    migrate(settings)
    store = Store(engine)
    store.audit_log.audit("decided", None, "U0NEW", {})

    verdict = _verify(store)
    assert verdict.ok and verdict.rows == 6, verdict.summary()
    engine.dispose()


@pytest.mark.slow
def test_export_memory_stays_flat_as_the_log_grows(empty_store: Store) -> None:
    def peak_while_exporting() -> int:
        with open(os.devnull, "w") as sink:
            tracemalloc.start()
            write_export(stored_rows(empty_store.db.engine), sink, "jsonl")
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return peak

    _bulk(empty_store, 1_000)
    small = peak_while_exporting()
    _bulk(empty_store, 9_000)
    large = peak_while_exporting()

    print(f"export peak (tracemalloc): {small / 1e6:.1f} MB for 1,000 rows, {large / 1e6:.1f} MB for 10,000 rows")
    assert large < small * 1.5 + 1_000_000


def _bulk(store: Store, count: int) -> None:
    entry = AuditEntry("decided", "b" * 32, "U0BULK", {"actions": [0], "type": "approve", "message": "x" * 100})
    with store.db.engine.begin() as conn:
        for start in range(0, count, 5000):
            append_audit(conn, [entry] * min(5000, count - start))


def test_rows_rewritten_up_to_the_head_are_caught_by_it(empty_store: Store) -> None:
    _log(empty_store, 3)
    rows = list(stored_rows(empty_store.db.engine))
    forged_hash = row_hash(3, "decided", None, "U0MALLORY", {}, rows[2].at, rows[1].row_hash)
    with empty_store.db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE countersign_audit_log SET approval_id = NULL, actor = 'U0MALLORY', detail = '{}', row_hash = :h "
                "WHERE id = 3"
            ),
            {"h": forged_hash},
        )

    assert _verify(empty_store).problem.startswith("the chain's head names row 3 with hash")


def test_the_audit_export_of_an_end_to_end_run_verifies_and_fails_after_any_single_row_change(
    stack: Stack, tmp_path: Path
) -> None:
    approval = stack.start_run("Refund order #500 for $250", user="U0AUDITASKER")
    stack.click("U0AUDITAPPROVER", ActionId.APPROVE, approval)
    stack.outcome(approval)
    export = tmp_path / "audit.jsonl"

    exported = stack.countersign("audit", "export", "--output", str(export))
    verified = stack.countersign("audit", "verify", str(export))

    assert exported.returncode == 0, exported.stderr
    assert verified.returncode == 0 and verified.stdout.startswith("audit chain intact: "), verified.stdout
    lines = export.read_text().splitlines(keepends=True)
    assert any(f'"approval_id":"{approval.id}"' in line and '"event":"decided"' in line for line in lines)
    for number, line in enumerate(lines, start=1):
        record = json.loads(line)
        record["detail"] = {**record["detail"], "changed": True}
        changed = "".join([*lines[: number - 1], json.dumps(record) + "\n", *lines[number:]])
        verdict = verify_export(io.StringIO(changed))
        assert verdict.row == f"line {number} (row {record['id']})", verdict.summary()

    (tmp_path / "changed.jsonl").write_text("".join(lines[:2] + lines[3:]))
    refused = stack.countersign("audit", "verify", str(tmp_path / "changed.jsonl"))
    assert refused.returncode == 1
    assert refused.stdout.startswith("audit chain BROKEN at row 3: row 3 removed: line 3 (row 4) does not follow line 2 (row 2)")
    database = stack.countersign("audit", "verify")
    assert database.returncode == 0 and database.stdout.startswith("audit chain intact: "), database.stdout
