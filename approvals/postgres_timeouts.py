"""How long a PostgreSQL connection may wait on a server that says nothing.

psycopg gives a connection attempt to a server that took the TCP connection and never answers 130 s,
and a connection whose packets stop being acknowledged (a failover, a dropped network path) hangs for
the kernel's retransmission timeout, some 15 minutes: a bot thread per click, a job per worker process,
each committing whatever it was doing that long after the person was told Slack timed out. These bound
both; a URL that sets its own keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping

CONNECT_TIMEOUT_SECONDS = 10
# A send not acknowledged by the server within this long drops the connection (TCP_USER_TIMEOUT).
TCP_USER_TIMEOUT_MS = 30_000


def missing_timeouts(given: Mapping[str, object]) -> dict[str, int]:
    """The timeout parameters `given` (a connection's libpq parameters) does not set itself."""
    defaults = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, "tcp_user_timeout": TCP_USER_TIMEOUT_MS}
    return {name: value for name, value in defaults.items() if name not in given}


def with_timeouts(conninfo: str) -> str:
    """`conninfo` (a libpq URL or key=value string) with the timeouts it does not set itself."""
    # Imported here: every process imports this module through the store, and psycopg (with its libpq) is
    # some 10 MB of RSS a process that runs on SQLite has no use for.
    import psycopg.conninfo

    return psycopg.conninfo.make_conninfo(conninfo, **missing_timeouts(psycopg.conninfo.conninfo_to_dict(conninfo)))
