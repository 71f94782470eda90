"""Reaching the right person: who a request was handed to, what people said about themselves (DMs of their
runs' outcomes, a delegate while away), approvals that cover a run's later calls, a delegate's decisions, and a
person's request to stop a run.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("countersign_runs", sa.Column("stop_requested_by", sa.String(64)))
    op.add_column("countersign_runs", sa.Column("stop_requested_at", sa.DateTime(timezone=True)))
    op.add_column("countersign_runs", sa.Column("stop_reason", sa.Text))
    op.add_column("countersign_approval_actions", sa.Column("decided_for", sa.String(64)))
    op.add_column("countersign_approval_votes", sa.Column("for_user", sa.String(64)))
    op.create_table(
        "countersign_approval_handovers",
        sa.Column("approval_id", sa.String(32), sa.ForeignKey("countersign_approvals.id"), primary_key=True),
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("asked_by", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rules", sa.JSON, nullable=False),
    )
    op.create_table(
        "countersign_people",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("notify_runs", sa.Boolean),
        sa.Column("delegate", sa.String(64)),
        sa.Column("away_until", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_countersign_people_delegate", "countersign_people", ["delegate"])
    op.create_table(
        "countersign_remembered_approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("thread_id", sa.String(64), sa.ForeignKey("countersign_runs.thread_id"), nullable=False),
        sa.Column("rule", sa.String(400), nullable=False),
        sa.Column("tool", sa.String(200), nullable=False),
        sa.Column("approval_id", sa.String(32), sa.ForeignKey("countersign_approvals.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_countersign_remembered_approvals_run", "countersign_remembered_approvals", ["thread_id", "tool"]
    )


def downgrade() -> None:
    op.drop_index("ix_countersign_remembered_approvals_run", "countersign_remembered_approvals")
    op.drop_table("countersign_remembered_approvals")
    op.drop_index("ix_countersign_people_delegate", "countersign_people")
    op.drop_table("countersign_people")
    op.drop_table("countersign_approval_handovers")
    with op.batch_alter_table("countersign_approval_votes") as batch:
        batch.drop_column("for_user")
    with op.batch_alter_table("countersign_approval_actions") as batch:
        batch.drop_column("decided_for")
    with op.batch_alter_table("countersign_runs") as batch:
        batch.drop_column("stop_reason")
        batch.drop_column("stop_requested_at")
        batch.drop_column("stop_requested_by")
