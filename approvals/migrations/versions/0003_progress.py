"""Where a run's progress message is in Slack.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("countersign_runs") as runs:
        runs.add_column(sa.Column("progress_ts", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("countersign_runs") as runs:
        runs.drop_column("progress_ts")
