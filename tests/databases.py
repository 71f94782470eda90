"""Databases of a test's own: a new SQLite file, or a new schema in TEST_DATABASE_URL's PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg


@contextmanager
def fresh_database(directory: Path, name: str, server: str | None = None) -> Iterator[str]:
    """The URL of an empty database named for `name`: a SQLite file in `directory`, or a schema (dropped
    afterwards) in the PostgreSQL at `server`, by default TEST_DATABASE_URL's."""
    server = server or os.environ.get("TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{directory / f'{name}.db'}"
        return
    schema = f"countersign_{name}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    # Every connection (SQLAlchemy's and the checkpointer's) reads search_path from the URL.
    separator = "&" if "?" in server else "?"
    try:
        yield f"{server}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
