"""The database schema's version: upgrading it (`countersign migrate`) and checking it at start-up.

Only `countersign migrate` changes the schema, under a lock (an advisory lock on PostgreSQL, a
file lock beside the SQLite file), so any number of processes may run it at once. The bot and
the worker only check that the database is at this release's revision, and stop with one line
when it is not.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import Connection, Engine, inspect, text

from approvals.tables import runs

# The release a43d289 created its tables with `create_all` and kept no revision; its schema is 0001.
BASELINE = "0001"
# Any fixed number: every Countersign process agrees on it, nothing else uses it.
_ADVISORY_LOCK = 0x636F756E746572


class SchemaNotCurrent(RuntimeError):
    """The database is not at the revision this release needs; the message says what to do."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision this release's code expects."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The database's revision; BASELINE for a database the pre-migrations release made; None when empty."""
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None and inspect(connection).has_table(runs.name):
        return BASELINE
    return revision


def check_schema(engine: Engine) -> None:
    """Raise `SchemaNotCurrent` unless the database is at this release's revision."""
    head = head_revision()
    with engine.connect() as conn:
        current = current_revision(conn)
    if current == head:
        return
    if current is None:
        raise SchemaNotCurrent("the database has no Countersign tables yet: run `countersign migrate`")
    known = {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current not in known:
        raise SchemaNotCurrent(f"the database is at revision {current}, newer than this release ({head}): upgrade Countersign")
    raise SchemaNotCurrent(f"the database is at revision {current}, this release needs {head}: run `countersign migrate`")


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold the one lock every `countersign migrate` takes, so concurrent runs take turns."""
    if engine.dialect.name == "postgresql":
        # Polled, in autocommit: a session blocked in pg_advisory_lock keeps a snapshot open, and
        # LangGraph's CREATE INDEX CONCURRENTLY in the holder would wait for it forever.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            while not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _ADVISORY_LOCK}).scalar():
                time.sleep(0.2)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_LOCK})
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with FileLock(f"{database}.migrate.lock", timeout=120):
        yield


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to this release's revision (the caller holds `migration_lock`); returns (from, to)."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # Readers never block the one writer, so the bot and the workers share the file (kept by the file).
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    with engine.begin() as conn:
        before = current_revision(conn)
        config = _config(conn)
        if before == BASELINE and MigrationContext.configure(conn).get_current_revision() is None:
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
        after = current_revision(conn)
    assert after is not None
    return before, after
