"""An escalation no front-end could post yet is tried again after a backoff kept in SQL, which every worker reads.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("countersign_approval_escalations") as escalations:
        escalations.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        escalations.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("countersign_approval_escalations") as escalations:
        escalations.drop_column("next_attempt_at")
        escalations.drop_column("attempts")
