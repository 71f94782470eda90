"""What-if changes to the worker process, tried in memory only, for `python bench/loop.py --experiment ...`.

Installed by `bench.agents` when the worker runs with `BENCH_EXPERIMENT=<name>[,<name>...]`; nothing on
disk outside bench/ changes. Each one stands for a small change one could make in worker/main.py:

  no-fork        run jobs in the worker's own process, as RQ's `SimpleWorker` does (no fork per job).
"""

from __future__ import annotations

KNOWN = {"no-fork"}


def install(names: str) -> list[str]:
    """Apply the named experiments (comma separated); returns those applied."""
    from rq.worker import SimpleWorker, Worker

    chosen = [name.strip() for name in names.split(",") if name.strip()]
    unknown = set(chosen) - KNOWN
    if unknown:
        raise ValueError(f"BENCH_EXPERIMENT: unknown {sorted(unknown)}; known: {sorted(KNOWN)}")
    if "no-fork" in chosen:
        Worker.execute_job = SimpleWorker.execute_job  # type: ignore[method-assign]
        Worker.get_heartbeat_ttl = SimpleWorker.get_heartbeat_ttl  # type: ignore[method-assign]
    return chosen
