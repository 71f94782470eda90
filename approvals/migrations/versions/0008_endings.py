"""How a run ended, as data (front-ends word it), and when a request was first shown to people, whatever
showed it. A request that has a Slack message was shown when it was created.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("countersign_runs", sa.Column("ending", sa.JSON))
    op.add_column("countersign_approvals", sa.Column("shown_at", sa.DateTime(timezone=True)))
    op.execute("UPDATE countersign_approvals SET shown_at = created_at WHERE message_ts IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("countersign_approvals") as approvals:
        approvals.drop_column("shown_at")
    with op.batch_alter_table("countersign_runs") as runs:
        runs.drop_column("ending")
