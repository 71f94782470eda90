"""Alembic's environment for Countersign: migrations run on the connection `approvals.schema` hands in."""

from __future__ import annotations

from alembic import context

from approvals.tables import metadata


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    # LangGraph's checkpointer keeps its own tables (and migrations) in the same database.
    return type_ != "table" or bool(name and name.startswith("countersign_"))


connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, include_name=_ours)
with context.begin_transaction():
    context.run_migrations()
