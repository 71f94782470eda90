"""The audit log becomes a hash chain: each row stores the hash of the row before it and of its own
canonical content, and one head row names the last link. Existing rows are chained in id order, so
`countersign audit verify` passes on an upgraded database. Requests are indexed by creation time, for
the approval figures.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    op.create_index("ix_countersign_approvals_created_at", "countersign_approvals", ["created_at"])
    with op.batch_alter_table("countersign_audit_log") as log:
        log.add_column(sa.Column("prev_hash", sa.String(64)))
        log.add_column(sa.Column("row_hash", sa.String(64)))
    op.create_table(
        "countersign_audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_id", sa.Integer, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    last_id, last_hash = _chain_existing_rows()
    op.execute(
        sa.text("INSERT INTO countersign_audit_head (id, last_id, last_hash) VALUES (1, :id, :hash)").bindparams(
            id=last_id, hash=last_hash
        )
    )
    with op.batch_alter_table("countersign_audit_log") as log:
        log.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        log.alter_column("row_hash", existing_type=sa.String(64), nullable=False)


def _chain_existing_rows() -> tuple[int, str]:
    """Hash the rows already there, oldest first, a batch at a time (constant memory on a long log)."""
    from approvals.audit import GENESIS, row_hash
    from approvals.tables import UTCDateTime

    conn = op.get_bind()
    log = sa.table(
        "countersign_audit_log",
        sa.column("id", sa.Integer),
        sa.column("event", sa.String),
        sa.column("approval_id", sa.String),
        sa.column("actor", sa.String),
        sa.column("detail", sa.JSON),
        sa.column("at", UTCDateTime),
        sa.column("prev_hash", sa.String),
        sa.column("row_hash", sa.String),
    )
    last_id, last_hash = 0, GENESIS
    while True:
        rows = conn.execute(sa.select(log).where(log.c.id > last_id).order_by(log.c.id).limit(_BATCH)).all()
        if not rows:
            return last_id, last_hash
        updates = []
        for row in rows:
            digest = row_hash(row.id, row.event, row.approval_id, row.actor, row.detail, row.at, last_hash)
            updates.append({"key": row.id, "prev": last_hash, "digest": digest})
            last_id, last_hash = row.id, digest
        conn.execute(
            sa.update(log).where(log.c.id == sa.bindparam("key")).values(prev_hash=sa.bindparam("prev"), row_hash=sa.bindparam("digest")),
            updates,
        )


def downgrade() -> None:
    op.drop_index("ix_countersign_approvals_created_at", "countersign_approvals")
    op.drop_table("countersign_audit_head")
    with op.batch_alter_table("countersign_audit_log") as log:
        log.drop_column("row_hash")
        log.drop_column("prev_hash")
