"""Scale out: approval cycles a second and CPU a cycle with 1, 2 and 3 workers on one database.

For each count, a fresh set of real processes (tests/cluster.py): that many `countersign worker` processes,
each with one job process (as separate one-core machines would run them) and the production lease and
dispatcher interval, and one `countersign bot` (2 gunicorn processes); then --cycles runs of the demo
`payments` agent started at once, each request approved as it is posted (bench/load.py's approver), until
every run is done. Prints cycles a second, the CPU a cycle of the workers, the bot and this process (the
Slack emulator and the approver), and, on PostgreSQL, the database connections the processes hold.

On this machine the cores bound the rate: every process shares them. The figures to read are the CPU a
cycle, and that adding workers adds none.

    python bench/scale.py [--cycles 200] [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sqlalchemy import text  # noqa: E402

from approvals.store import Store  # noqa: E402
from bench.calibration import machine_line  # noqa: E402
from bench.load import _own_cpu, cpu_seconds, time_cycles  # noqa: E402
from bench.services import stack_services  # noqa: E402
from bench.stopping import unwind_on_stop  # noqa: E402
from countersign.embedded_valkey import start_valkey  # noqa: E402
from sandbox.emulator import Channel, SlackEmulator  # noqa: E402
from tests.cluster import Cluster  # noqa: E402
from tests.databases import fresh_database  # noqa: E402

CHANNEL = "C0BENCH"
APPLICATION = "countersign-scale-bench"
# What bench/load.py's approver clicks as, a member of the channel.
MEMBERS = ("U0BENCHAPPROVER", "U0BENCHASKER")


class ProductionCluster(Cluster):
    """The cluster with the production lease, dispatcher interval and channel cache; one job process a worker."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for name in ("COUNTERSIGN_LEASE_SECONDS", "COUNTERSIGN_DISPATCH_INTERVAL", "COUNTERSIGN_CHANNEL_MEMBERS_CACHE_SECONDS"):
            self.env.pop(name, None)
        self.env["COUNTERSIGN_WORKER_PROCESSES"] = "1"
        self.env["COUNTERSIGN_AGENTS"] = "bench.agents:AGENTS"


def connections(store: Store) -> int | None:
    """Database connections the processes hold (tagged by application_name), less this process's own; None on SQLite."""
    if store.db.engine.dialect.name != "postgresql":
        return None
    with store.db.engine.connect() as conn:
        held = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"), {"a": APPLICATION})
        return int(held.scalar_one()) - store.db.engine.pool.checkedin() - store.db.engine.pool.checkedout()


def measure(workers: int, cycles: int, database_url: str, tmp: Path) -> None:
    """Start `workers` workers and a bot, time `cycles` cycles, print one line of figures."""
    with SlackEmulator(channels=[Channel(CHANNEL, "bench", members=MEMBERS)]) as slack:
        valkey = start_valkey()
        try:
            settings, store, queue = stack_services(
                slack.base_url, valkey.connection_url, database_url, token="xoxb-bench", secret="bench-secret", channel=CHANNEL
            )
            logs = tmp / f"logs-{workers}"
            logs.mkdir()
            started = ProductionCluster.start_cluster(
                settings, slack, store, queue, logs, "bench-secret", workers=workers, bots=1
            )
            with started as cluster:
                cluster.use_bot(0)
                pids = [p.pid for p in cluster.workers if p is not None]
                bot = cluster.bots[0]
                assert bot is not None
                time_cycles(cluster, 10)  # warm: each process's first statements, the agent's first compile
                before = sum(cpu_seconds(pid) for pid in pids), cpu_seconds(bot.pid), _own_cpu()
                took, _ = time_cycles(cluster, cycles)
                after = sum(cpu_seconds(pid) for pid in pids), cpu_seconds(bot.pid), _own_cpu()
                worker_ms, bot_ms, own_ms = ((a - b) / cycles * 1000 for a, b in zip(after, before, strict=True))
                held = connections(store)
                redis_clients = len(queue.connection.client_list())
            # Less this process's own, which are all that remain once the processes are gone.
            time.sleep(0.5)
            redis_clients -= len(queue.connection.client_list())
            store.db.engine.dispose()
        finally:
            valkey.stop()
    held_text = f"; {held} database connections held" if held is not None else ""
    held_text += f", {redis_clients} Redis connections"
    print(
        f"{workers} worker{'s' if workers > 1 else ' '}: {cycles / took:5.1f} cycles/s; "
        f"CPU a cycle: workers {worker_ms:4.1f} ms, "
        f"bot {bot_ms:4.1f} ms, this process {own_ms:4.1f} ms, all {worker_ms + bot_ms + own_ms:4.1f} ms{held_text}",
        flush=True,
    )


def main() -> None:
    unwind_on_stop()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200, help="runs started at once for each count of workers")
    parser.add_argument("--postgres", help="a PostgreSQL URL (a fresh schema is made in it) instead of SQLite")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    print(f"{args.cycles} approval cycles at once; 1 bot (2 gunicorn processes); each worker 1 job process", flush=True)
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        for workers in (1, 2, 3):
            with fresh_database(tmp, f"scale{workers}", args.postgres) as url:
                if args.postgres:
                    url += f"&application_name={APPLICATION}"
                measure(workers, args.cycles, url, tmp)
    print(f"{os.cpu_count()} cores: the rate is bound by them; the CPU a cycle should not grow with workers")


if __name__ == "__main__":
    main()
