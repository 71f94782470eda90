"""The database every section of the store shares: its engine, its write transactions and their lock."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from approvals.postgres_timeouts import missing_timeouts

# A pooled connection used this recently is taken as it is; one idle longer is pinged first. Pinging at
# every checkout, as `pool_pre_ping` does, costs a round trip before each unit of work, and a click takes
# several units of work on its way to its tool.
PING_AFTER_IDLE_SECONDS = 1.0


def create_db_engine(url: str, pool_size: int = 5) -> Engine:
    """An engine for the store; SQLite waits for locks (bot and workers share the file) and enforces foreign keys;
    PostgreSQL gives up on a silent server (`approvals.postgres_timeouts`). `pool_size`: the connections kept
    open between uses; a process whose threads use more at once than that opens and closes the others each
    time (SQLAlchemy's overflow), which on PostgreSQL starts and ends a server process every time."""
    if not url.startswith("sqlite"):
        engine = create_engine(url, connect_args=missing_timeouts(make_url(url).query), pool_size=pool_size)
        _ping_when_idle(engine)
        return engine
    engine = create_engine(url, connect_args={"timeout": 30}, pool_size=pool_size)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection before use when it sat in the pool past `PING_AFTER_IDLE_SECONDS` (or is new): a server
    restart, or a proxy that drops idle connections, costs a reconnect instead of a failed statement."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool drops this connection and checks out another (SQLAlchemy's pessimistic disconnect recipe).
            raise DisconnectionError(str(error)) from error


# SQLite's `synchronous` levels (https://sqlite.org/pragma.html#pragma_synchronous): with WAL, FULL flushes the
# log to disk at each commit; NORMAL leaves it to the operating system, which a killed process cannot lose and
# a power cut can (the last commits, never a torn one).
_FLUSHED, _UNFLUSHED = "FULL", "NORMAL"


class Database:
    """One engine and its writers: the store's sections read and write through it.

    `sync_every_commit=False` (the worker's, on SQLite): commits are not flushed to disk one by one; a write
    that says `flushed=True` is, and with it every commit before it, of every process (they share one log)."""

    def __init__(self, engine: Engine, sync_every_commit: bool = True) -> None:
        self.engine = engine
        self._lazy = engine.dialect.name == "sqlite" and not sync_every_commit
        if self._lazy:
            event.listen(engine, "checkout", self._unflushed)
        # SQLite lets one connection write at a time, and a writer that finds it busy sleeps in steps of
        # up to 100 ms before trying again, so under a burst of clicks the acks would queue. This
        # process's writers queue on a lock instead, which hands over at once (reentrant: a write may
        # open another inside it).
        self._one_writer = engine.dialect.name == "sqlite"
        self._lock = threading.RLock()
        self._lock_pid = os.getpid()
        self._warm_ups: list[Callable[[], object]] = []

    @contextmanager
    def writing(self, conn: Connection | None = None, *, flushed: bool = False) -> Iterator[Connection]:
        """A write transaction, committed when the block ends (on SQLite, one of this process's at a time); or `conn`,
        the caller's own, when it writes several things in one. `flushed`: on disk when the block ends, whatever
        `sync_every_commit` says (for a write that something outside SQL acts on, such as a tool's start)."""
        if conn is not None:
            yield conn
            return
        if not self._one_writer:
            with self.engine.begin() as conn:
                yield conn
            return
        if self._lock_pid != os.getpid():
            # Forked (a job process): the parent's lock is not ours to wait on.
            self._lock, self._lock_pid = threading.RLock(), os.getpid()
        with self._lock, self.engine.begin() as conn:
            if flushed and self._lazy:
                # Before the transaction's first statement: SQLite reads the level when its transaction begins.
                self._set_synchronous(conn.connection.dbapi_connection, conn.connection.info, _FLUSHED)
            yield conn

    def _unflushed(self, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.get("synchronous") != _UNFLUSHED:
            self._set_synchronous(dbapi_connection, record.info, _UNFLUSHED)

    @staticmethod
    def _set_synchronous(dbapi_connection: Any, info: dict[str, Any], level: str) -> None:
        dbapi_connection.execute(f"PRAGMA synchronous={level}")
        info["synchronous"] = level

    @contextmanager
    def connect(self, conn: Connection | None = None) -> Iterator[Connection]:
        """`conn` when the caller has one open (a read inside its transaction), else a connection of our own."""
        if conn is not None:
            yield conn
        else:
            with self.engine.connect() as own:
                yield own

    def warms_up_with(self, read: Callable[[], object]) -> None:
        """Have `warm_up` run `read`: a section's read of nothing that compiles the statements a job runs first."""
        self._warm_ups.append(read)

    def warm_up(self) -> None:
        """Compile the statements a resume job runs first, so jobs find them in the engine's cache."""
        for read in self._warm_ups:
            read()


class WarmedSection:
    """A section of the store whose first statements a job runs are compiled ahead (`Database.warm_up`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.warms_up_with(self._warm_up)

    def _warm_up(self) -> None:
        """Read nothing through the statements a job runs first (a missing row is expected, and ignored)."""
        raise NotImplementedError
