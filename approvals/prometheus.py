"""Prometheus plumbing the bot and the worker share: prometheus_client's multiprocess mode, set up for the
user, and what a scrape returns.

Both processes fork (gunicorn's workers; the worker's job processes), so their metrics live in files
of a multiprocess directory that a scrape adds up, one set per process (`<type>_<pid>.db`; a job process
serves many jobs, so they do not pile up). Each `countersign bot` and `countersign worker` makes its own
directory, `countersign-metrics-<role>-<pid>` under PROMETHEUS_MULTIPROC_DIR (default: the temporary
directory), and removes it when it exits; one left by a process that was killed is removed by the next
start, once no process it forked is left (they inherit a lock on its `in-use` file). Call
`use_multiprocess_directory` before anything creates a metric (this module imports prometheus_client
only inside its functions, so importing it early is safe).
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
_DIRECTORY = re.compile(r"^countersign-metrics-[a-z]+-(\d+)$")
IN_USE = "in-use"
_in_use: IO[bytes] | None = None


def _abandoned(directory: Path) -> bool:
    """True for a directory no live process uses: its maker is gone, and so is every process it forked (they
    inherit its shared lock on the `in-use` file; a job process may outlive its killed worker while it
    finishes a job, and its metric files must stay where it opens them)."""
    found = _DIRECTORY.match(directory.name)
    if found is None or _alive(int(found[1])):
        return False
    try:
        with open(directory / IN_USE, "rb") as marker:
            fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except FileNotFoundError:
        pass  # made by an older release, or its maker died before taking the lock
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def use_multiprocess_directory(role: str, base: str | None = None) -> Path:
    """Point prometheus_client at a fresh directory for this process and the processes it forks, removed
    at exit."""
    root = Path(base or tempfile.gettempdir())
    if _DIRECTORY.match(root.name):
        root = root.parent  # inherited from a Countersign process that started this one
    root.mkdir(parents=True, exist_ok=True)
    for leftover in root.glob("countersign-metrics-*"):
        if _abandoned(leftover):
            shutil.rmtree(leftover, ignore_errors=True)
    owner = os.getpid()
    path = root / f"countersign-metrics-{role}-{owner}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    # Held (shared, inherited by every fork) until the last process that may write here is gone.
    global _in_use
    _in_use = open(path / IN_USE, "wb")  # noqa: SIM115 - held for the life of the process
    fcntl.flock(_in_use, fcntl.LOCK_SH)
    os.environ[ENV] = str(path)

    from prometheus_client import values

    values.ValueClass = values.MultiProcessValue()

    def remove() -> None:
        # Forked children inherit this hook: only the process that made the directory removes it.
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
    return path


def scrape_registry(*collectors: Any) -> Any:
    """The registry a scrape reads: every process's metrics from the multiprocess directory (or this
    process's alone when there is none), plus `collectors` (values read at scrape time)."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    if not os.environ.get(ENV):
        for collector in collectors:
            REGISTRY.register(collector)
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    for collector in collectors:
        registry.register(collector)
    return registry


def exposition(registry: Any) -> tuple[bytes, str]:
    """The scrape's body and content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(registry), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    """Forget a dead process's live gauges (gunicorn calls this when a worker exits)."""
    if os.environ.get(ENV):
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid)


def serve(port: int, registry: Any, host: str = "0.0.0.0") -> bool:
    """Serve `registry` on `host`:`port` (any path) from a daemon thread; False, said once, when the port
    is taken (e.g. a second worker on one machine: give each its own COUNTERSIGN_METRICS_PORT)."""
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        log.warning("metrics: cannot serve /metrics on port %s (%s); this process is not scraped", port, error.strerror)
        return False
    # A forked child (a job process) must not keep the listening socket: one that outlives its worker
    # would hold the port, so scrapes hang on a socket nobody serves and the restarted worker cannot bind it.
    os.register_at_fork(after_in_child=server.socket.close)
    log.info("metrics: /metrics on port %s", port)
    return True
