"""Where a worker's CPU goes, by step of the approval cycle, from a py-spy profile of the worker process tree.

    pip install py-spy
    python bench/load.py --soak 3000 &                      # keeps the worker busy with approval cycles
    py-spy record --gil --subprocesses --format raw -r 250 -d 30 -o worker.raw -p "$(pgrep -f 'countersign.cli worker' | head -1)"
    python bench/cpu_steps.py worker.raw

`--gil` samples only the thread holding the GIL, so the shares are of Python's CPU (what waits on SQL, Redis or
Slack is not counted). Each sample goes to the first step its stack matches, in the order below; the shares are
of all samples of the worker's processes (the parent, its job processes, and their threads).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Iterable

OTHER = "other: the executors' threads and futures, process start-up"
# (step, the frames a stack must hold, in any order), first match wins.
STEPS: list[tuple[str, tuple[str, ...]]] = [
    ("graph: a tool's body and LangChain's tool call (LangGraph's executor thread)", ("ToolNode._run_one",)),
    ("graph: checkpoint writes (LangGraph's executor thread)", ("_WorkItem.run", "Saver.put")),
    ("Slack: post the request, its link, note where", ("SlackFrontEnd._request",)),
    ("Slack: the run's progress message", ("RunProgress.flush",)),
    ("Slack: redraw the request after delivery", ("SlackFrontEnd._changed",)),
    ("Slack: post the ending", ("SlackFrontEnd._ended",)),
    ("Slack: other", ("SlackFrontEnd.tell",)),
    ("graph: LangGraph's steps, checkpoints and state reads", ("Pregel.",)),
    ("SQL: runs, requests, journal, lease (the store)", ("(approvals/store/",)),
    ("our code: policy, rendering, the rest of a job", ("AgentRuntime.",)),
    ("RQ: dequeue, job bookkeeping, heartbeats", ("BaseWorker.",)),
    ("the dispatcher, lease renewals", ("Dispatcher.",)),
    ("the dispatcher, lease renewals", ("lease.<locals>.renew",)),
    ("the worker's parent: pool loop", ("run_pool",)),
]


def steps(lines: Iterable[str]) -> tuple[Counter[str], int]:
    """Samples by step, and the total, from py-spy's raw (collapsed stack) lines."""
    counts: Counter[str] = Counter()
    total = 0
    for line in lines:
        stack, _, number = line.rstrip().rpartition(" ")
        if not stack or not number.isdigit():
            continue
        samples = int(number)
        total += samples
        frames = re.sub(r":\d+\)", ")", stack)
        step = next((name for name, needles in STEPS if all(n in frames for n in needles)), OTHER)
        counts[step] += samples
    return counts, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", help="py-spy's raw output (--format raw)")
    args = parser.parse_args(argv)
    with open(args.profile) as raw:
        counts, total = steps(raw)
    if not total:
        print(f"{args.profile}: no samples", file=sys.stderr)
        return 1
    for step, samples in counts.most_common():
        print(f"{100 * samples / total:5.1f} %  {step}")
    print(f"{total} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
