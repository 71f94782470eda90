"""Deliveries from Slack already seen: a retried or redelivered request is answered as the first was, once.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "countersign_deliveries",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("content_type", sa.String(100)),
        sa.Column("answer", sa.Text),
    )
    op.create_index("ix_countersign_deliveries_received_at", "countersign_deliveries", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_countersign_deliveries_received_at", "countersign_deliveries")
    op.drop_table("countersign_deliveries")
