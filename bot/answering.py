"""The requests a bot process has yet to answer, so that what follows an answer can wait for them.

Slack gives a request 3 s to be answered and shows the person an error past that; the message update
that follows a click has no such deadline. Under a burst of clicks the work after each ack (redrawing
the message, a modal, the Home tab) took half of the bot's CPU while later clicks waited for theirs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Answering:
    """A count of the requests being answered in this process."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    @contextmanager
    def request(self) -> Iterator[None]:
        """Count one request while it is being answered."""
        with self._changed:
            self._count += 1
        try:
            yield
        finally:
            with self._changed:
                self._count -= 1
                if not self._count:
                    self._changed.notify_all()

    @property
    def count(self) -> int:
        """How many requests are being answered now."""
        with self._changed:
            return self._count

    def wait_for_none(self, timeout: float) -> bool:
        """Wait until no request is being answered, or `timeout` seconds; True if none is."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._count, timeout)


# This process's (each of gunicorn's worker processes is forked before its first request, with none).
ANSWERING = Answering()
