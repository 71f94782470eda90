"""The durable LangGraph checkpointer: a SQLite file by default, PostgreSQL when DATABASE_URL says so;
the async savers of both for agents that run async."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import aiosqlite
import psycopg
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from approvals.postgres_timeouts import with_timeouts
from approvals.settings import Settings
from approvals.store import PING_AFTER_IDLE_SECONDS
from worker.event_loop import EventLoop

log = logging.getLogger(__name__)

# Each step's checkpoint is committed before the next step starts (a killed worker loses none), and reaches the
# disk with the next commit that must: a tool's start in the journal flushes the log they share.
UNFLUSHED_COMMITS = "PRAGMA synchronous=NORMAL"


def sqlite_path(database_url: str) -> str:
    """The file path in a `sqlite:///path` URL (`sqlite:////abs/path` for absolute paths)."""
    path = database_url.split("://", 1)[1].split("?", 1)[0]
    return path[1:] if path.startswith("/") else path


def postgres_conninfo(database_url: str) -> str:
    """libpq connection parameters for psycopg (without SQLAlchemy's `+psycopg` driver suffix), with the
    timeouts that keep a silent server from holding a job for ever (`approvals.postgres_timeouts`)."""
    scheme, rest = database_url.split("://", 1)
    return with_timeouts("postgresql://" + rest if scheme.startswith("postgres") else database_url)


@contextmanager
def open_checkpointer(settings: Settings) -> Iterator[PostgresSaver | SqliteSaver]:
    """A checkpointer on its own connection, for one job (connections never cross a fork)."""
    if settings.is_postgres:
        with PostgresSaver.from_conn_string(postgres_conninfo(settings.database_url)) as saver:
            yield saver
        return
    conn = sqlite3.connect(sqlite_path(settings.database_url), check_same_thread=False, timeout=30)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(UNFLUSHED_COMMITS)
        yield SqliteSaver(conn)
    finally:
        conn.close()


class KeptCheckpointer:
    """The checkpointer of a job process, opened for its first job and kept for the next ones.

    A connection per job cost 0.6 ms on SQLite and 7 ms on PostgreSQL, whose server starts a process for
    each. It is never used across a fork (a process opens its own), and one a job left in doubt (the job
    failed, or PostgreSQL's connection no longer answers) is closed and opened afresh before the next job.
    Both savers serialise their own use of the connection, so the threads of one process may share it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._resources: ExitStack | None = None
        self._inherited: list[ExitStack] = []
        self._saver: PostgresSaver | SqliteSaver | None = None
        self._pid = 0
        self._users = 0
        self._doubtful = False
        self._idle_since = 0.0

    @contextmanager
    def session(self) -> Iterator[PostgresSaver | SqliteSaver]:
        """The kept saver for one job; a job that raises leaves it to be replaced once no job uses it."""
        with self._lock:
            if self._pid != os.getpid():
                # Opened before a fork: the parent's connection, neither used nor closed here (and kept
                # referenced, or collecting its context manager would close it).
                if self._resources is not None:
                    self._inherited.append(self._resources)
                self._resources, self._saver, self._doubtful = None, None, False
                self._pid = os.getpid()
            if self._saver is not None and self._users == 0 and (self._doubtful or not self._answers(self._saver)):
                self._close()
            if self._saver is None:
                resources = ExitStack()
                self._saver = resources.enter_context(open_checkpointer(self.settings))
                self._resources = resources
            saver = self._saver
            self._users += 1
        try:
            yield saver
        except BaseException:
            self._doubtful = True
            raise
        finally:
            with self._lock:
                self._users -= 1
                self._idle_since = time.monotonic()

    def close(self) -> None:
        """Close the connection, if this process opened one (a new one is opened on the next use)."""
        with self._lock:
            if self._pid == os.getpid():
                self._close()

    def _close(self) -> None:
        resources, self._resources, self._saver, self._doubtful = self._resources, None, None, False
        if resources is not None:
            try:
                resources.close()
            except Exception:  # a connection already gone may fail to close; a new one is opened anyway
                log.debug("closing a kept checkpointer failed", exc_info=True)

    def _answers(self, saver: PostgresSaver | SqliteSaver) -> bool:
        """A PostgreSQL connection still answers (pinged when it sat idle, as the store's pool does); a SQLite
        file always does."""
        conn = saver.conn if isinstance(saver, PostgresSaver) else None
        if not isinstance(conn, psycopg.Connection):
            return True  # SQLite, or a pool, which checks its own connections
        if conn.closed or conn.broken:
            return False
        if time.monotonic() - self._idle_since < PING_AFTER_IDLE_SECONDS:
            return True
        try:
            with saver.lock:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True


@contextmanager
def open_async_checkpointer(settings: Settings, loop: EventLoop) -> Iterator[BaseCheckpointSaver[str]]:
    """An async checkpointer for one job, opened (and closed) on the worker process's event loop."""
    if settings.is_postgres:
        manager = AsyncPostgresSaver.from_conn_string(postgres_conninfo(settings.database_url))
        postgres_saver = loop.run(manager.__aenter__())
        try:
            yield postgres_saver
        finally:
            loop.run(manager.__aexit__(None, None, None))
        return

    async def connect() -> AsyncSqliteSaver:
        # The saver remembers the loop it was made on, so it is made on the loop it will run on.
        conn = await aiosqlite.connect(sqlite_path(settings.database_url), timeout=30)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute(UNFLUSHED_COMMITS)
        return AsyncSqliteSaver(conn)

    saver = loop.run(connect())
    try:
        yield saver
    finally:
        loop.run(saver.conn.close())


def setup_checkpointer(settings: Settings) -> None:
    """Create the checkpoint tables (run by `countersign migrate`)."""
    with open_checkpointer(settings) as saver:
        saver.setup()
