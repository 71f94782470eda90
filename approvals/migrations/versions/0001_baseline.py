"""Baseline: the schema release a43d289 made with `create_all`.

A database made by that release has these tables and no `alembic_version`; `countersign migrate`
stamps it at this revision and carries on from here, its rows untouched.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "countersign_runs",
        sa.Column("thread_id", sa.String(64), primary_key=True),
        sa.Column("agent", sa.String(200), nullable=False),
        sa.Column("input_text", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(64)),
        sa.Column("reply_channel", sa.String(64)),
        sa.Column("slack_channel", sa.String(64)),
        sa.Column("slack_thread_ts", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.Text),
        _at("created_at", nullable=False),
        _at("updated_at", nullable=False),
    )
    op.create_table(
        "countersign_approvals",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("thread_id", sa.String(64), sa.ForeignKey("countersign_runs.thread_id"), nullable=False),
        sa.Column("interrupt_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("agent_message", sa.Text, nullable=False),
        sa.Column("gate", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(64)),
        sa.Column("message_ts", sa.String(32)),
        _at("deadline_at"),
        sa.Column("stage", sa.Integer, nullable=False),
        sa.Column("timeout_action", sa.String(16), nullable=False),
        _at("decided_at"),
        _at("resumed_at"),
        _at("created_at", nullable=False),
    )
    op.create_index("ix_countersign_approvals_thread_id", "countersign_approvals", ["thread_id"])
    op.create_index("ix_countersign_approvals_status", "countersign_approvals", ["status"])
    op.create_index("ix_countersign_approvals_deadline_at", "countersign_approvals", ["deadline_at"])
    op.create_table(
        "countersign_approval_actions",
        sa.Column("approval_id", sa.String(32), sa.ForeignKey("countersign_approvals.id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("tool", sa.String(200), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("allowed_decisions", sa.JSON, nullable=False),
        sa.Column("args_schema", sa.JSON),
        sa.Column("result", sa.Text),
        sa.Column("decision_type", sa.String(16)),
        sa.Column("decided_by", sa.String(64)),
        _at("decided_at"),
        sa.Column("edited_args", sa.JSON),
        sa.Column("decision_message", sa.Text),
    )
    op.create_table(
        "countersign_approval_escalations",
        sa.Column("approval_id", sa.String(32), sa.ForeignKey("countersign_approvals.id"), primary_key=True),
        sa.Column("stage", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("message_ts", sa.String(32)),
        _at("at", nullable=False),
    )
    op.create_table(
        "countersign_approval_votes",
        sa.Column("approval_id", sa.String(32), sa.ForeignKey("countersign_approvals.id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.String(64), primary_key=True),
        _at("at", nullable=False),
    )
    op.create_table(
        "countersign_settings",
        sa.Column("scope", sa.String(400), primary_key=True),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        _at("updated_at", nullable=False),
    )
    op.create_table(
        "countersign_audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("approval_id", sa.String(32)),
        sa.Column("actor", sa.String(64)),
        sa.Column("detail", sa.JSON, nullable=False),
        _at("at", nullable=False),
    )
    op.create_index("ix_countersign_audit_log_approval_id", "countersign_audit_log", ["approval_id"])


def downgrade() -> None:
    for table in (
        "countersign_audit_log",
        "countersign_settings",
        "countersign_approval_votes",
        "countersign_approval_escalations",
        "countersign_approval_actions",
        "countersign_approvals",
        "countersign_runs",
    ):
        op.drop_table(table)
