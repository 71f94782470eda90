"""How long a run waits before its next attempt: after an attempt that raised, and after a front-end that could not
show what the run owes (longer when only a person can fix that: the app not in a channel, its token revoked)."""

from __future__ import annotations

# Seconds to wait before the next attempt after a failed one (the last repeats).
RETRY_BACKOFF = [2, 10, 30, 60, 120]
# ... after a front-end refused in a way only a person can fix.
LASTING_BACKOFF = [30, 120, 300, 600]


def backoff(attempts: int, *, lasting: bool = False) -> int:
    """Seconds to wait after the `attempts`-th attempt failed."""
    waits = LASTING_BACKOFF if lasting else RETRY_BACKOFF
    return waits[min(max(attempts, 1), len(waits)) - 1]
