"""The CPU the agent's own graph takes for a whole approval cycle, in one process: the floor under
issue 29's "CPU a cycle" aim.

A cycle in the real processes runs the demo `payments` agent twice (to its request, then from the
decision to its end) and reads its state after each, as the worker does. This runs exactly that in this
process, compiled as the worker compiles it and on the worker's checkpointer, with no RQ, SQL store, Slack
or HTTP, and prints the process's CPU (user and system, every thread's) a cycle: with LangGraph's default
durability, with the worker's (`sync`: each step's checkpoint committed before the next starts, which a
worker killed mid-step needs) and with `exit` (one checkpoint at the end; for reference only, since a
kill would lose every step since the last pause). Ten warm-up cycles are not counted.

    python bench/agent_cpu.py [--cycles 200] [--postgres URL]

On PostgreSQL the server's own CPU is not counted (it is another process); on SQLite there is none.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from langgraph.types import Command, Durability  # noqa: E402

from approvals.settings import Settings  # noqa: E402
from bench import agents  # noqa: E402
from bench.calibration import machine_line  # noqa: E402
from tests.databases import fresh_database  # noqa: E402
from worker.checkpointer import open_checkpointer  # noqa: E402
from worker.graph_session import DURABILITY  # noqa: E402
from worker.registry import AgentRegistry  # noqa: E402

WARMUP = 10


def cycle_cpu(cycles: int, database_url: str, durability: Durability | None) -> list[float]:
    """CPU seconds of each cycle: start to the pause, read the state, resume to the end, read it again."""
    agents.sink = agents.LocalSink()
    agent = AgentRegistry(agents.AGENTS).get(agents.AGENT_NAME)
    options: dict[str, Any] = {} if durability is None else {"durability": durability}
    spent: list[float] = []
    with open_checkpointer(Settings(database_url=database_url)) as saver:
        saver.setup()  # type: ignore[attr-defined]
        graph = agent.bind(saver)
        for number in range(WARMUP + cycles):
            config = {"configurable": {"thread_id": uuid.uuid4().hex}}
            text = f"Refund order #{1000 + number} for ${100 + number}"
            before = time.process_time()
            graph.invoke({"messages": [{"role": "user", "content": text}]}, config, **options)
            interrupts = graph.get_state(config).interrupts
            if len(interrupts) != 1:
                raise RuntimeError(f"cycle {number}: expected one interrupt, got {interrupts!r}")
            graph.invoke(Command(resume={interrupts[0].id: {"decisions": [{"type": "approve"}]}}), config, **options)
            if graph.get_state(config).next:
                raise RuntimeError(f"cycle {number}: the run did not end")
            if number >= WARMUP:
                spent.append(time.process_time() - before)
    return spent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The agent's own CPU for one approval cycle, in one process.")
    parser.add_argument("--cycles", type=int, default=200, help="counted cycles for each durability (default 200)")
    parser.add_argument("--postgres", help="a PostgreSQL URL (a fresh schema is made in it) instead of SQLite")
    args = parser.parse_args(argv)
    if args.cycles < 1:
        parser.error("--cycles must be at least 1")
    print(machine_line())
    print(f"the demo payments agent, one process, {args.cycles} cycles each ({'PostgreSQL' if args.postgres else 'SQLite'}):")
    with tempfile.TemporaryDirectory(prefix="countersign-bench-") as tmp:
        for label, durability in (("default", None), (f"{DURABILITY} (the worker's)", DURABILITY), ("exit", "exit")):
            with fresh_database(Path(tmp), f"agent_cpu_{label.split()[0]}", args.postgres) as database_url:
                spent = [seconds * 1000 for seconds in cycle_cpu(args.cycles, database_url, durability)]
            p50, mean = statistics.median(spent), statistics.fmean(spent)
            print(f"  durability {label:<19} CPU a cycle p50 {p50:5.1f} ms, mean {mean:5.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
