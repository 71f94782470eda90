"""A bench asked to stop unwinds, so that its `finally` blocks tear down the processes it started."""

from __future__ import annotations

import signal
import sys
from types import FrameType


def unwind_on_stop() -> None:
    """Make SIGTERM, and SIGINT (ignored in a process started in the background), end the bench by raising
    `SystemExit` in its main thread, as an uncaught exception would: every `finally` runs."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        sys.exit(f"stopped by {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
