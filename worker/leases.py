"""A worker's claim on a run, kept in SQL: short-lived and renewed while the job works, so a dead
worker holds nothing for long and Redis can lose its data without two workers taking one thread."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from approvals.models import Run
from approvals.store import Store

log = logging.getLogger(__name__)


# This process's tag in the owners of its leases: a job process's RQ worker name (random), so that its
# owners are its own even where host names and pids repeat (the pods of one deployment share a long
# name prefix, and their processes the same small pids).
_tag = ""


def process_tag(worker_name: str) -> str:
    """The tag of the job process RQ knows as `worker_name`."""
    return worker_name[:12]


def tag_process(worker_name: str) -> None:
    """Tag the leases this process takes from now on as those of the job process `worker_name`."""
    global _tag
    _tag = process_tag(worker_name)


def owner_prefix(pid: int, tag: str) -> str:
    """How the leases a process of this host holds begin."""
    return f"{socket.gethostname()[:24]}:{pid}:{tag}:"


def new_owner() -> str:
    """An id naming this attempt: which host and process holds a lease, told apart from its other jobs."""
    return f"{owner_prefix(os.getpid(), _tag)}{uuid.uuid4().hex[:8]}"


@contextmanager
def lease(store: Store, thread_id: str, ttl: timedelta) -> Iterator[Run | None]:
    """Hold the thread's lease for the block, renewing it every third of `ttl`; yields the run, or None
    when another worker holds a live lease (then this job has nothing to do)."""
    owner = new_owner()
    run = store.runs.claim(thread_id, owner, ttl)
    if run is None:
        yield None
        return
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl.total_seconds() / 3):
            try:
                if not store.runs.renew(thread_id, owner, ttl):
                    log.error("lost the lease on run %s (held too long without renewal); another worker may take it", thread_id)
                    return
            except Exception:
                log.warning("could not renew the lease on run %s", thread_id, exc_info=True)

    renewer = threading.Thread(target=renew, name=f"lease-{thread_id[:8]}", daemon=True)
    renewer.start()
    try:
        yield run
    finally:
        stop.set()
        renewer.join()
        store.runs.release(thread_id, owner)
