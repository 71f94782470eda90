"""A worker stopped while its job processes are still starting stops at once, quietly, and takes them with it.

A deploy or a restart can stop a worker the moment it came up. A stop that reached a job process before
RQ installed its handlers (even in the fork's own clean-up) killed it wherever it was, with a
KeyboardInterrupt traceback in the log; RQ's pool then forked a replacement it never told to stop, and
the worker waited for it forever (4 hangs in 60 stops, here). Earlier, each job process also started
RQ's scheduler process, which could leave the worker waiting for it forever too. This test stops six
workers as their pools fork, each a little later than the one before.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq.exceptions import StopRequested

from approvals.settings import Settings
from countersign.migrate import migrate
from tests.databases import fresh_database
from tests.forkserver import ForkServer
from tests.stack import REPO_ROOT, descendants_of, wait_until
from worker.pool import JobProcess, let_stops_through

ROUNDS = 6


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path, "stop") as url:
        migrate(Settings(database_url=url))
        yield url


@pytest.mark.slow
def test_a_worker_stopped_as_its_job_processes_start_exits_quietly_with_all_of_them(
    database: str, valkey: str, fork_server: ForkServer, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COUNTERSIGN_", "DATABASE_", "REDIS_"))}
    for round_ in range(ROUNDS):
        log = tmp_path / f"worker-{round_}.log"
        worker = fork_server.start(
            ["worker"],
            env
            | {
                "DATABASE_URL": database,
                "REDIS_URL": valkey,
                "PYTHONPATH": str(REPO_ROOT),
                "COUNTERSIGN_AGENTS": "tests.agents:AGENTS",
                "COUNTERSIGN_QUEUE": f"stop-{uuid.uuid4().hex[:6]}",
            },
            log,
        )
        # From the moment the pool starts forking its job processes, a little later each round.
        wait_until(lambda: "Starting worker pool" in _text(log) or worker.poll() is not None, 60, "the pool")
        time.sleep(round_ * 0.01)
        assert worker.poll() is None, f"round {round_}: the worker did not start\n{_text(log)[-3000:]}"
        family = descendants_of(worker.pid)

        worker.send_signal(signal.SIGTERM)

        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            for pid in [worker.pid, *descendants_of(worker.pid), *family]:
                _kill_quietly(pid)
            raise AssertionError(f"round {round_}: the worker did not stop\n{log.read_text()[-3000:]}") from None
        left = [pid for pid in family if _running(pid)]
        assert left == [], f"round {round_}: processes left running: {left}\n{log.read_text()[-3000:]}"
        assert "Traceback" not in log.read_text(), f"round {round_}: a process died\n{log.read_text()[-3000:]}"


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def _kill_quietly(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


class _InterruptedStream(io.StringIO):
    """A stream whose next write is interrupted by RQ's stop, as when the signal lands mid-line."""

    def write(self, text: str) -> int:
        raise StopRequested()


def test_a_stop_that_lands_while_a_job_process_logs_stops_it_instead_of_failing_the_log_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = logging.StreamHandler(_InterruptedStream())
    let_stops_through(handler)
    logger = logging.getLogger(f"test-stop-{uuid.uuid4().hex[:6]}")
    logger.addHandler(handler)
    logger.propagate = False

    with pytest.raises(StopRequested):
        logger.warning("Worker %s: cleaning registries", "w1")

    assert "Logging error" not in capsys.readouterr().err


def test_an_idle_job_process_lets_go_of_its_command_channel_at_once(valkey: str) -> None:
    # RQ listens for commands on a pub/sub thread blocked in a 60 s read; a stop must not wait that out.
    worker = JobProcess([f"idle-{uuid.uuid4().hex[:6]}"], connection=Redis.from_url(valkey))
    worker.subscribe()
    thread = worker.pubsub_thread
    wait_until(lambda: worker.pubsub is not None and worker.pubsub.subscribed, 5, "the subscription")

    started = time.monotonic()
    worker.unsubscribe()

    assert time.monotonic() - started < 2
    assert not thread.is_alive()


def test_a_stop_that_comes_before_the_job_processes_loop_is_noted_for_it_instead_of_raised(valkey: str) -> None:
    # RQ installs its stop handler just before its loop's `try`: a stop raised there would escape with a traceback.
    worker = JobProcess([f"early-{uuid.uuid4().hex[:6]}"], connection=Redis.from_url(valkey))

    worker.request_stop(signal.SIGTERM, None)

    assert worker._stop_requested  # the loop's first check stops it cleanly
