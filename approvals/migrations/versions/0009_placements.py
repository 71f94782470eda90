"""Where a front-end showed things is the front-end's own reference, in one table (`countersign_placements`),
not Slack columns on runs and requests: a run's thread and progress message, a request's message and link,
and each escalation's message move there as Slack's. An escalation notes when it was shown, whatever showed it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from approvals.errors import ConfigurationError

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SLACK = "slack"

_placements = sa.table(
    "countersign_placements",
    sa.column("front_end", sa.String),
    sa.column("subject", sa.String),
    sa.column("ref", sa.JSON),
    sa.column("noted_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        # Dropping a column in place needs SQLite 3.35; rebuilding tables others reference is not safe here.
        raise ConfigurationError(
            "DATABASE_URL", f"this migration needs SQLite 3.35 or newer, and this Python has SQLite {sqlite3.sqlite_version}"
        )
    op.create_table(
        "countersign_placements",
        sa.Column("front_end", sa.String(32), primary_key=True),
        sa.Column("subject", sa.String(160), primary_key=True),
        sa.Column("ref", sa.JSON, nullable=False),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("countersign_approval_escalations", sa.Column("shown_at", sa.DateTime(timezone=True)))
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for thread_id, channel, ts, progress in bind.execute(
        sa.text("SELECT thread_id, slack_channel, slack_thread_ts, progress_ts FROM countersign_runs WHERE slack_thread_ts IS NOT NULL")
    ):
        rows.append({"subject": f"run:{thread_id}", "ref": {"channel": channel, "ts": ts}})
        if progress:
            rows.append({"subject": f"progress:{thread_id}", "ref": {"channel": channel, "ts": progress}})
    for approval_id, channel, ts, permalink in bind.execute(
        sa.text("SELECT id, channel, message_ts, permalink FROM countersign_approvals WHERE message_ts IS NOT NULL")
    ):
        rows.append({"subject": f"request:{approval_id}", "ref": {"channel": channel, "ts": ts, "permalink": permalink}})
    for approval_id, stage, channel, ts in bind.execute(
        sa.text("SELECT approval_id, stage, channel, message_ts FROM countersign_approval_escalations WHERE message_ts IS NOT NULL")
    ):
        rows.append({"subject": f"request:{approval_id}:stage:{stage}", "ref": {"channel": channel, "ts": ts}})
    if rows:
        op.bulk_insert(_placements, [{"front_end": SLACK, "noted_at": now, **row} for row in rows])
    op.execute("UPDATE countersign_approval_escalations SET shown_at = at WHERE message_ts IS NOT NULL")
    # Plain DROP COLUMN (SQLite 3.35+ has it): no batch rebuild of tables others reference.
    for table, column in (
        ("countersign_runs", "slack_channel"),
        ("countersign_runs", "slack_thread_ts"),
        ("countersign_runs", "progress_ts"),
        ("countersign_approvals", "message_ts"),
        ("countersign_approvals", "permalink"),
        ("countersign_approval_escalations", "message_ts"),
    ):
        op.drop_column(table, column)


def downgrade() -> None:
    op.add_column("countersign_runs", sa.Column("slack_channel", sa.String(64)))
    op.add_column("countersign_runs", sa.Column("slack_thread_ts", sa.String(32)))
    op.add_column("countersign_runs", sa.Column("progress_ts", sa.String(32)))
    op.add_column("countersign_approvals", sa.Column("message_ts", sa.String(32)))
    op.add_column("countersign_approvals", sa.Column("permalink", sa.String(512)))
    op.add_column("countersign_approval_escalations", sa.Column("message_ts", sa.String(32)))
    bind = op.get_bind()
    for subject, ref in bind.execute(sa.select(_placements.c.subject, _placements.c.ref).where(_placements.c.front_end == SLACK)):
        kind, _, rest = subject.partition(":")
        if kind == "run":
            bind.execute(
                sa.text("UPDATE countersign_runs SET slack_channel = :c, slack_thread_ts = :t WHERE thread_id = :k"),
                {"c": ref["channel"], "t": ref["ts"], "k": rest},
            )
        elif kind == "progress":
            bind.execute(sa.text("UPDATE countersign_runs SET progress_ts = :t WHERE thread_id = :k"), {"t": ref["ts"], "k": rest})
        elif ":stage:" in rest:
            approval_id, _, stage = rest.partition(":stage:")
            bind.execute(
                sa.text("UPDATE countersign_approval_escalations SET message_ts = :t WHERE approval_id = :k AND stage = :s"),
                {"t": ref["ts"], "k": approval_id, "s": int(stage)},
            )
        else:
            bind.execute(
                sa.text("UPDATE countersign_approvals SET message_ts = :t, permalink = :p WHERE id = :k"),
                {"t": ref["ts"], "p": ref.get("permalink"), "k": rest},
            )
    op.drop_column("countersign_approval_escalations", "shown_at")
    op.drop_table("countersign_placements")
