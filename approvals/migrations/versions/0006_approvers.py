"""Who may decide a request, in SQL: one row per approver (or `*` for anyone) and the gate's
allow_self_approval as a column, so the App Home filters by approver before its LIMIT; pending
requests indexed in deadline order. Existing requests are filled in from their gates.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    # A plain ALTER TABLE ADD COLUMN (with its constant default) on SQLite too: a batch rebuild of the table
    # would drop it, which the foreign keys of its actions refuse.
    op.add_column("countersign_approvals", sa.Column("allow_self_approval", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "countersign_approval_approvers",
        sa.Column("approver", sa.String(64), primary_key=True),
        sa.Column("approval_id", sa.String(32), sa.ForeignKey("countersign_approvals.id"), primary_key=True),
    )
    op.create_index("ix_countersign_approvals_pending", "countersign_approvals", ["status", "deadline_at", "created_at", "id"])
    _fill_from_gates()


def _fill_from_gates() -> None:
    """Copy each stored request's approvers out of its gate, a batch at a time (constant memory)."""
    conn = op.get_bind()
    approvals = sa.table(
        "countersign_approvals",
        sa.column("id", sa.String),
        sa.column("gate", sa.JSON),
        sa.column("allow_self_approval", sa.Boolean),
    )
    approvers = sa.table("countersign_approval_approvers", sa.column("approver", sa.String), sa.column("approval_id", sa.String))
    last = ""
    while True:
        rows = conn.execute(sa.select(approvals.c.id, approvals.c.gate).where(approvals.c.id > last).order_by(approvals.c.id).limit(_BATCH)).all()
        if not rows:
            return
        conn.execute(
            sa.insert(approvers),
            [{"approver": entry, "approval_id": row.id} for row in rows for entry in dict.fromkeys((row.gate or {}).get("approvers") or ["*"])],
        )
        selfish = [row.id for row in rows if (row.gate or {}).get("allow_self_approval")]
        if selfish:
            conn.execute(sa.update(approvals).where(approvals.c.id.in_(selfish)).values(allow_self_approval=True))
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_countersign_approvals_pending", "countersign_approvals")
    with op.batch_alter_table("countersign_approvals") as approvals:
        approvals.drop_column("allow_self_approval")
    op.drop_table("countersign_approval_approvers")
