"""Each call of a request under its own rule: the call's gate, and an edit re-proposed under another rule
(its arguments and who proposed them, and the request's revision it bumps). Existing calls keep null:
their request's gate governs them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN (nullable, or with a constant default) on SQLite too: no batch rebuild of a
    # table others reference.
    op.add_column("countersign_approvals", sa.Column("revision", sa.Integer, nullable=False, server_default="0"))
    op.add_column("countersign_approval_actions", sa.Column("gate", sa.JSON))
    op.add_column("countersign_approval_actions", sa.Column("proposed_args", sa.JSON))
    op.add_column("countersign_approval_actions", sa.Column("proposed_by", sa.String(64)))
    op.create_index("ix_countersign_approvals_pending_channels", "countersign_approvals", ["status", "channel"])


def downgrade() -> None:
    op.drop_index("ix_countersign_approvals_pending_channels", "countersign_approvals")
    with op.batch_alter_table("countersign_approval_actions") as actions:
        actions.drop_column("proposed_by")
        actions.drop_column("proposed_args")
        actions.drop_column("gate")
    with op.batch_alter_table("countersign_approvals") as approvals:
        approvals.drop_column("revision")
