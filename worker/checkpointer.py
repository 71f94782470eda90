"""The durable LangGraph checkpointer: a SQLite file by default, PostgreSQL when DATABASE_URL says so;
the async savers of both for agents that run async."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from approvals.settings import Settings
from worker.event_loop import EventLoop


def sqlite_path(database_url: str) -> str:
    """The file path in a `sqlite:///path` URL (`sqlite:////abs/path` for absolute paths)."""
    path = database_url.split("://", 1)[1].split("?", 1)[0]
    return path[1:] if path.startswith("/") else path


def postgres_conninfo(database_url: str) -> str:
    """A libpq URL for psycopg (without SQLAlchemy's `+psycopg` driver suffix)."""
    scheme, rest = database_url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else database_url


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
        yield SqliteSaver(conn)
    finally:
        conn.close()


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
