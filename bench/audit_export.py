"""Export and verify a 1,000,000-row audit log, in constant memory.

    python bench/audit_export.py [--rows 1000000] [--postgres postgresql://…]

Builds a fresh database (a SQLite file, or a new schema on the PostgreSQL server given), appends the
rows through `append_audit` (the chain is real), then runs the real commands as their own processes:
`countersign audit export` (JSON Lines and CSV) and `countersign audit verify` of the database and of
the export. Prints each one's time and peak RSS, next to the same for a 10,000-row log: flat memory
means the rows stream.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from approvals.audit import AuditEntry, append_audit
from approvals.settings import Settings
from approvals.store import create_db_engine
from bench.stopping import unwind_on_stop
from countersign.migrate import migrate

REPO = Path(__file__).resolve().parents[1]
_BATCH = 10_000


def seed(url: str, rows: int) -> float:
    """Append `rows` audit rows (decisions, with a typical detail); returns the seconds it took."""
    engine = create_db_engine(Settings(database_url=url).sqlalchemy_url)
    started = time.perf_counter()
    entries = [
        AuditEntry("decided", uuid.uuid4().hex, f"U{n:08d}", {"actions": [0], "type": "approve", "message": None})
        for n in range(_BATCH)
    ]
    for start in range(0, rows, _BATCH):
        with engine.begin() as conn:
            append_audit(conn, entries[: min(_BATCH, rows - start)])
    engine.dispose()
    return time.perf_counter() - started


# Runs the command and, as it exits, writes its own peak RSS (VmHWM) to a file: getrusage's figure for a
# child would include this (larger) process's memory at the fork.
_MEASURED = """
import atexit, os, sys
def peak():
    with open(os.environ["BENCH_PEAK_FILE"], "w") as out:
        out.write(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
atexit.register(peak)
sys.argv = ["countersign", *sys.argv[1:]]
from countersign.cli import main
main()
"""


def command(url: str, *args: str) -> tuple[float, float, str]:
    """Run `countersign <args>`; returns (seconds, peak RSS in MB, the last line it printed)."""
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak:
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(REPO), "BENCH_PEAK_FILE": peak.name}
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _MEASURED, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"countersign {' '.join(args)} failed: {done.stdout[-500:]}")
        kilobytes = int(Path(peak.name).read_text() or 0)
    return elapsed, kilobytes / 1024, (done.stdout.strip().splitlines() or [""])[-1]


def measure(url: str, rows: int, scratch: Path) -> None:
    migrate(Settings(database_url=url))
    print(f"\n{rows:,} rows: appended through append_audit in {seed(url, rows):.1f} s")
    for fmt in ("jsonl", "csv"):
        out = scratch / f"audit-{rows}.{fmt}"
        seconds, rss, _ = command(url, "audit", "export", "--format", fmt, "--output", str(out))
        print(f"  export {fmt:5}  {seconds:6.1f} s  peak RSS {rss:6.1f} MB  ({out.stat().st_size / 1e6:.0f} MB file)")
        seconds, rss, line = command(url, "audit", "verify", str(out))
        print(f"  verify {fmt:5}  {seconds:6.1f} s  peak RSS {rss:6.1f} MB  {line[:60]}")
        out.unlink()
    seconds, rss, line = command(url, "audit", "verify")
    print(f"  verify db     {seconds:6.1f} s  peak RSS {rss:6.1f} MB  {line[:60]}")


def main() -> None:
    unwind_on_stop()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (a fresh schema is made and dropped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="countersign-bench-") as scratch:
        for rows in (10_000, args.rows):
            if args.postgres:
                schema = f"countersign_bench_{uuid.uuid4().hex[:8]}"
                with psycopg.connect(args.postgres, autocommit=True) as conn:
                    conn.execute(f"CREATE SCHEMA {schema}")
                separator = "&" if "?" in args.postgres else "?"
                try:
                    measure(f"{args.postgres}{separator}options=-csearch_path%3D{schema}", rows, Path(scratch))
                finally:
                    with psycopg.connect(args.postgres, autocommit=True) as conn:
                        conn.execute(f"DROP SCHEMA {schema} CASCADE")
            else:
                measure(f"sqlite:///{scratch}/audit-{rows}.db", rows, Path(scratch))


if __name__ == "__main__":
    main()
