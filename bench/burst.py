"""Bursts of simultaneous clicks on Approve: click → ack p50/p99 of each burst, and the CPU each process spent a click.

bench/load.py times one burst of 50 clicks, after minutes of other work, and one burst's p99 moves by a third from
one run to the next on this machine. This bench times several bursts on one stack, each on a fresh set of pending
requests (bulk-inserted as bench/load.py's are, their messages posted), then the same clicks one at a time, so a
change to the bot's click path can be read against the spread of its figures. It prints each process's CPU a
click: the bot's (its ack and what follows it), the worker's (the resumes the decisions hand over; these runs have
no checkpoint, so each resume ends at once), and this process's (the approvers' HTTP and the Slack emulator).

    python bench/burst.py [--bursts 6] [--clicks 50] [--postgres postgresql://postgres@127.0.0.1:5432/test]

The first burst warms both gunicorn processes and is left out of the summary. Everything runs on this machine,
as in bench/load.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.calibration import machine_line  # noqa: E402
from bench.load import _own_cpu, add_pending, cpu_seconds, default_stack, pct, post_messages, time_clicks  # noqa: E402
from bench.stopping import unwind_on_stop  # noqa: E402
from tests.stack import wait_until  # noqa: E402

SETTLE_SECONDS = 1.5  # what follows the acks (message updates, resumes) is done by then
ALONE = 30  # clicks timed one at a time
ALONE_GAP_SECONDS = 0.1  # what follows each of them is done before the next


def main() -> None:
    unwind_on_stop()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=6, help="bursts, the first a warm-up")
    parser.add_argument("--clicks", type=int, default=50, help="simultaneous clicks a burst")
    parser.add_argument("--postgres", help="a PostgreSQL URL (a fresh schema is made in it) instead of SQLite")
    args = parser.parse_args()
    print(machine_line(), flush=True)

    with default_stack("burst", args.postgres) as (settings, store, stack):
        assert stack.bot is not None and stack.worker is not None  # (for the type checker: the stack started both)
        pending = add_pending(store, args.clicks * args.bursts + ALONE)
        p99s: list[float] = []
        for burst in range(args.bursts):
            targets = post_messages(store, settings, pending[burst * args.clicks : (burst + 1) * args.clicks])
            before = cpu_seconds(stack.bot.pid), cpu_seconds(stack.worker.pid), _own_cpu()
            acks = time_clicks(stack, targets)
            left = len(pending) - (burst + 1) * args.clicks
            wait_until(lambda left=left: store.lists.pending_summary()[0] <= left, 30, "the clicks to be decided")
            time.sleep(SETTLE_SECONDS)
            after = cpu_seconds(stack.bot.pid), cpu_seconds(stack.worker.pid), _own_cpu()
            bot, worker, own = ((a - b) / len(acks) * 1000 for a, b in zip(after, before, strict=True))
            p99 = pct(acks, 99)
            if burst:
                p99s.append(p99)
            print(
                f"burst {burst}{' (warm-up)' if not burst else ''}: click → ack p50 {pct(acks, 50):.1f} ms, "
                f"p99 {p99:.1f} ms; CPU a click: bot {bot:.1f} ms, worker {worker:.1f} ms, this process {own:.1f} ms",
                flush=True,
            )
        if p99s:
            print(
                f"{len(p99s)} bursts of {args.clicks}: click → ack p99 median {statistics.median(p99s):.1f} ms "
                f"(from {min(p99s):.1f} to {max(p99s):.1f}); aim < {150 if args.postgres else 100} ms"
            )
        # The same clicks one at a time: what one ack takes with nothing else to do. A burst's last ack cannot
        # come sooner than its clicks' acks take together, shared between the cores.
        alone = []
        for target in post_messages(store, settings, pending[args.bursts * args.clicks :]):
            alone.extend(time_clicks(stack, [target]))
            time.sleep(ALONE_GAP_SECONDS)
        floor = pct(alone, 50) * args.clicks / (os.cpu_count() or 1)
        print(
            f"one click at a time ({len(alone)}): click → ack p50 {pct(alone, 50):.1f} ms; {args.clicks} of them "
            f"shared between {os.cpu_count()} cores, doing nothing else: {floor:.0f} ms"
        )


if __name__ == "__main__":
    main()
