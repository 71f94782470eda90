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

from approvals.approval_store import ApprovalStore
from approvals.models import Run

log = logging.getLogger(__name__)


def owner_prefix(pid: int) -> str:
    """How the leases a process on this host holds begin."""
    return f"{socket.gethostname()[:30]}:{pid}:"


def new_owner() -> str:
    """An id naming this attempt: which host and process holds a lease, told apart from its other jobs."""
    return f"{owner_prefix(os.getpid())}{uuid.uuid4().hex[:8]}"


@contextmanager
def lease(store: ApprovalStore, thread_id: str, ttl: timedelta) -> Iterator[Run | None]:
    """Hold the thread's lease for the block, renewing it every third of `ttl`; yields the run, or None
    when another worker holds a live lease (then this job has nothing to do)."""
    owner = new_owner()
    run = store.claim(thread_id, owner, ttl)
    if run is None:
        yield None
        return
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl.total_seconds() / 3):
            try:
                if not store.renew(thread_id, owner, ttl):
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
        store.release(thread_id, owner)
