"""`countersign migrate`: bring the database to this release's schema, Countersign's tables and
LangGraph's checkpoint tables alike. Idempotent, and safe to run from several processes at once."""

from __future__ import annotations

from approvals.schema import migration_lock, upgrade
from approvals.settings import Settings
from approvals.store import create_db_engine


def migrate(settings: Settings) -> str:
    """Upgrade under the migration lock; returns one line saying what changed."""
    from worker.checkpointer import setup_checkpointer  # LangGraph's own tables, under the same lock

    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        with migration_lock(engine):
            before, after = upgrade(engine)
            setup_checkpointer(settings)
    finally:
        engine.dispose()
    if before == after:
        return f"countersign migrate: the database is at revision {after}, nothing to do"
    return f"countersign migrate: upgraded the database from {before or 'empty'} to revision {after}"
