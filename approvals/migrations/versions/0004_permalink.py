"""A request message's permalink, fetched once when it is posted (lists of pending requests link to it
without asking Slack again).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("countersign_approvals") as approvals:
        approvals.add_column(sa.Column("permalink", sa.String(512)))


def downgrade() -> None:
    with op.batch_alter_table("countersign_approvals") as approvals:
        approvals.drop_column("permalink")
