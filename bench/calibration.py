"""How fast this machine is right now, printed beside a bench's figures.

The development machine's speed varies by a third within an hour (its host is shared), so figures from
different hours compare only through this: the time of a fixed pure-Python loop.
"""

from __future__ import annotations

import os
import time

# Run as `python -c` runs it, with module-level names (about 3.7x slower than inside a function): the
# form bench/RESULTS.md's earlier figures quote ("a pure-Python loop took 2.3 s").
_LOOP = compile("total = 0\nfor number in range(20_000_000):\n    total += number\n", "<calibration>", "exec")


def loop_seconds() -> float:
    """Seconds a pure-Python loop of 20 million additions takes now, on one core."""
    started = time.perf_counter()
    exec(_LOOP, {})  # a constant loop of our own, nothing from outside
    return time.perf_counter() - started


def machine_line() -> str:
    """One line saying how many cores there are and how fast one is now."""
    return f"machine: {os.cpu_count()} cores; a pure-Python loop of 20M additions takes {loop_seconds():.2f} s now"
