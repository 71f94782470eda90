"""One asyncio event loop per worker process, for agents that run async.

Jobs are synchronous (RQ calls them); an async graph's calls are run on this loop, in a thread of
its own, and waited for. One loop serves every job of the process (an aiosqlite or psycopg
connection is bound to the loop it was opened on), rather than a loop per job.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class EventLoop:
    """An event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="countersign-event-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the loop and wait for it; the caller's context variables go with it."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result()
        except BaseException:
            # A job timeout (RQ raises in the waiting thread) must not leave the coroutine running.
            future.cancel()
            raise


_loop: EventLoop | None = None
_pid = 0


def event_loop() -> EventLoop:
    """This process's loop, started on first use (a forked job process starts its own)."""
    global _loop, _pid
    if _loop is None or _pid != os.getpid():
        _loop, _pid = EventLoop(), os.getpid()
    return _loop
