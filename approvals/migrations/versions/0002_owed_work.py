"""SQL owns all pending work: worker leases on runs, delivery tracking of decisions, owed reminders,
the tool-call journal, and whether a run's outcome reached Slack.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = True, primary_key: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, primary_key=primary_key)


def upgrade() -> None:
    with op.batch_alter_table("countersign_runs") as runs:
        runs.add_column(sa.Column("lease_owner", sa.String(64)))
        runs.add_column(_at("lease_expires_at"))
        runs.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        runs.add_column(_at("next_attempt_at"))
        runs.add_column(_at("outcome_posted_at"))
        runs.create_index("ix_countersign_runs_status", ["status"])
    # Runs that finished under the previous release had their outcome posted then.
    op.execute("UPDATE countersign_runs SET outcome_posted_at = updated_at WHERE status IN ('done', 'failed')")
    with op.batch_alter_table("countersign_approval_actions") as actions:
        actions.add_column(sa.Column("call_id", sa.String(128)))
    with op.batch_alter_table("countersign_approvals") as approvals:
        approvals.add_column(_at("delivery_started_at"))
        approvals.create_index("ix_countersign_approvals_resumed_at", ["resumed_at"])
    op.create_table(
        "countersign_approval_reminders",
        sa.Column("approval_id", sa.String(32), sa.ForeignKey("countersign_approvals.id"), primary_key=True),
        sa.Column("stage", sa.Integer, primary_key=True),
        _at("due_at", nullable=False, primary_key=True),
        _at("sent_at"),
    )
    op.create_index("ix_countersign_approval_reminders_due", "countersign_approval_reminders", ["sent_at", "due_at"])
    _owe_reminders_of_pending_requests()
    op.create_table(
        "countersign_tool_calls",
        sa.Column("thread_id", sa.String(64), primary_key=True),
        sa.Column("task", sa.String(512), primary_key=True),
        sa.Column("tool_call_id", sa.String(128), primary_key=True),
        sa.Column("tool", sa.String(200), nullable=False),
        _at("started_at", nullable=False),
        _at("finished_at"),
        sa.Column("result", sa.JSON),
        _at("uncertain_at"),
    )


def _owe_reminders_of_pending_requests() -> None:
    """The previous release kept reminders only as RQ jobs: owe them in SQL for requests still pending."""
    from datetime import UTC, datetime, timedelta

    from approvals.models import parse_duration

    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, stage, deadline_at, gate FROM countersign_approvals WHERE status = 'pending'")
    ).all()
    now = datetime.now(UTC)
    reminders = sa.table(
        "countersign_approval_reminders",
        sa.column("approval_id", sa.String),
        sa.column("stage", sa.Integer),
        sa.column("due_at", sa.DateTime(timezone=True)),
    )
    for row in rows:
        gate = row.gate if isinstance(row.gate, dict) else __import__("json").loads(row.gate)
        deadline = row.deadline_at
        if deadline is None or not gate.get("reminders"):
            continue
        if isinstance(deadline, str):
            deadline = datetime.fromisoformat(deadline)
        deadline = deadline.replace(tzinfo=UTC) if deadline.tzinfo is None else deadline
        for before in gate["reminders"]:
            due = deadline - parse_duration(before)
            if due > now - timedelta(seconds=1):
                conn.execute(sa.insert(reminders).values(approval_id=row.id, stage=row.stage, due_at=due))


def downgrade() -> None:
    op.drop_table("countersign_tool_calls")
    op.drop_index("ix_countersign_approval_reminders_due", "countersign_approval_reminders")
    op.drop_table("countersign_approval_reminders")
    with op.batch_alter_table("countersign_approvals") as approvals:
        approvals.drop_index("ix_countersign_approvals_resumed_at")
        approvals.drop_column("delivery_started_at")
    with op.batch_alter_table("countersign_approval_actions") as actions:
        actions.drop_column("call_id")
    with op.batch_alter_table("countersign_runs") as runs:
        runs.drop_index("ix_countersign_runs_status")
        for column in ("outcome_posted_at", "next_attempt_at", "attempts", "lease_expires_at", "lease_owner"):
            runs.drop_column(column)
