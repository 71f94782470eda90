"""Forks wait for the worker's own background threads to be between steps.

The worker's main process forks its job processes (at start, and again whenever one dies or
retires) while its dispatcher thread and /metrics server run. A fork copies every lock as it is
at that moment: had a thread been inside SQLAlchemy's statement cache or a connection pool, the
child would wait on a lock nobody will release (seen: a job process hung on its first job; and one
hung on its first log line, forked while the dispatcher wrote to a buffered stderr). So those threads
do their work, and their logging, inside `between_forks()`, and a fork takes the same lock first.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()


@contextmanager
def between_forks() -> Iterator[None]:
    """Hold off forks of this process for the block."""
    with _lock:
        yield


def _release_in_child() -> None:
    # The child's copy was taken by the thread that forked; no other thread exists there to hold it.
    _lock.release()


os.register_at_fork(before=_lock.acquire, after_in_parent=_lock.release, after_in_child=_release_in_child)
