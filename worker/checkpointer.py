"""The durable LangGraph checkpointer: a SQLite file by default, PostgreSQL when DATABASE_URL says so."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver

from approvals.settings import Settings


def sqlite_path(database_url: str) -> str:
    """The file path in a `sqlite:///path` URL (`sqlite:////abs/path` for absolute paths)."""
    path = database_url.split("://", 1)[1].split("?", 1)[0]
    return path[1:] if path.startswith("/") else path


def postgres_conninfo(database_url: str) -> str:
    """A libpq URL for psycopg (without SQLAlchemy's `+psycopg` driver suffix)."""
    scheme, rest = database_url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else database_url


@contextmanager
def open_checkpointer(settings: Settings) -> Iterator[BaseCheckpointSaver]:
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


def setup_checkpointer(settings: Settings) -> None:
    """Create the checkpoint tables once, at worker start."""
    with open_checkpointer(settings) as saver:
        saver.setup()
