"""Several `countersign worker` and `countersign bot` processes on one database and one Redis, as separate
machines run them: each bot serves on a port of its own (a load balancer in front would pick one per request),
each worker has its own job process and dispatcher. Used by tests/test_scale_out.py and bench/scale.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from approvals.job_queue import JobQueue
from approvals.settings import Settings
from approvals.store import Store
from countersign.ports import free_port
from sandbox.driver import SlackDriver
from sandbox.emulator import SlackEmulator
from tests.forkserver import ForkServer
from tests.stack import Process, Stack, children_of, wait_until


class Cluster(Stack):
    """`workers` workers and `bots` bots, started and killed one by one; `Stack`'s helpers act as Slack users,
    each click going to the bot `use_bot` last picked."""

    def __init__(
        self,
        settings: Settings,
        slack: SlackEmulator,
        store: Store,
        queue: JobQueue,
        logs: Path,
        secret: str,
        workers: int,
        bots: int,
    ) -> None:
        super().__init__(settings, slack, store, queue, logs, secret)
        # Several workers on one machine: none serves /metrics (each would want the port).
        self.env["COUNTERSIGN_METRICS_PORT"] = "0"
        self.workers: list[Process | None] = [None] * workers
        self.bots: list[Process | None] = [None] * bots
        self.bot_ports = [free_port() for _ in range(bots)]
        self.drivers = [
            SlackDriver(
                f"http://127.0.0.1:{port}/slack/events", secret, response_url=slack.response_url(), acting_as=slack.add_member
            )
            for port in self.bot_ports
        ]

    @classmethod
    @contextmanager
    def start_cluster(
        cls,
        settings: Settings,
        slack: SlackEmulator,
        store: Store,
        queue: JobQueue,
        logs: Path,
        secret: str,
        *,
        workers: int,
        bots: int,
        fork_server: ForkServer | None = None,
    ) -> Iterator[Cluster]:
        """Start every worker and bot, wait until all serve, and kill them all afterwards."""
        cluster = cls(settings, slack, store, queue, logs, secret, workers, bots)
        cluster.fork_server = fork_server
        try:
            for n in range(workers):
                cluster.workers[n] = cluster._spawn_as("worker", n)
            for n in range(bots):
                cluster.bots[n] = cluster._spawn_as("bot", n)
            for n in range(workers):
                cluster._wait_for_worker_n(n)
            for n in range(bots):
                cluster._wait_for_bot_n(n)
            yield cluster
        finally:
            for process in [*cluster.bots, *cluster.workers]:
                cluster._kill_tree(process)

    def _spawn_as(self, command: str, n: int) -> Process:
        env = self.env | {"PORT": str(self.bot_ports[n])} if command == "bot" else self.env
        log = self.logs / f"{command}-{n}.log"
        if self.fork_server is not None:
            return self.fork_server.start([command], env, log)
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "countersign.cli", command],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _kill_tree(self, process: Process | None) -> None:
        """SIGKILL a process, its job processes and its process group, as a machine that died."""
        if process is None or process.poll() is not None:
            return
        for child in children_of(process.pid):
            with suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        self._kill_group(process)

    def _wait_for_worker_n(self, n: int) -> None:
        def ready() -> bool:
            process = self.workers[n]
            assert process is not None
            if process.poll() is not None:
                raise RuntimeError(f"worker {n} exited with {process.poll()}:\n{self.log(f'worker-{n}')[-3000:]}")
            # Its job process forked: it takes jobs from here on.
            return bool(self.queue.known_agents()) and bool(children_of(process.pid))

        wait_until(ready, 60, f"worker {n}")

    def _wait_for_bot_n(self, n: int) -> None:
        def ready() -> bool:
            process = self.bots[n]
            assert process is not None
            if process.poll() is not None:
                raise RuntimeError(f"bot {n} exited with {process.poll()}:\n{self.log(f'bot-{n}')[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.bot_ports[n]}/healthz", timeout=1) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_until(ready, 30, f"bot {n} to serve /healthz")

    def kill_worker_n(self, n: int) -> None:
        """SIGKILL worker `n` and its job process."""
        self._kill_tree(self.workers[n])
        self.workers[n] = None

    def start_worker_n(self, n: int) -> None:
        """Start worker `n` again and wait until its job process is up."""
        self.workers[n] = self._spawn_as("worker", n)
        self._wait_for_worker_n(n)

    def kill_bot_n(self, n: int) -> None:
        """SIGKILL bot `n`: its gunicorn master and workers, mid-whatever they were doing."""
        self._kill_tree(self.bots[n])
        self.bots[n] = None

    def start_bot_n(self, n: int) -> None:
        """Start bot `n` again on its port and wait until it serves."""
        self.bots[n] = self._spawn_as("bot", n)
        self._wait_for_bot_n(n)

    def use_bot(self, n: int) -> None:
        """Send the next clicks to bot `n` (as a load balancer would pick it)."""
        self.driver = self.drivers[n]

    def live_bots(self) -> list[int]:
        """The bots running now."""
        return [n for n, process in enumerate(self.bots) if process is not None and process.poll() is None]
