"""The tables as release a43d289 created them (`create_all`, no migrations), copied verbatim from its
`approvals/approval_store.py`: the migration tests build a database exactly as that release did."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Integer, MetaData, String, Table, Text

metadata = MetaData()

runs = Table(
    "countersign_runs",
    metadata,
    Column("thread_id", String(64), primary_key=True),
    Column("agent", String(200), nullable=False),
    Column("input_text", Text, nullable=False),
    Column("requested_by", String(64)),
    Column("reply_channel", String(64)),
    Column("slack_channel", String(64)),
    Column("slack_thread_ts", String(32)),
    Column("status", String(16), nullable=False),
    Column("outcome", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

approvals = Table(
    "countersign_approvals",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("thread_id", String(64), ForeignKey(runs.c.thread_id), nullable=False, index=True),
    Column("interrupt_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("agent_message", Text, nullable=False, default=""),
    Column("gate", JSON, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("channel", String(64)),
    Column("message_ts", String(32)),
    # The current deadline, the escalation stage it belongs to, and what it does (reject, approve, escalate).
    Column("deadline_at", DateTime(timezone=True), index=True),
    Column("stage", Integer, nullable=False, default=0),
    Column("timeout_action", String(16), nullable=False, default="reject"),
    Column("decided_at", DateTime(timezone=True)),
    Column("resumed_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

approval_actions = Table(
    "countersign_approval_actions",
    metadata,
    Column("approval_id", String(32), ForeignKey(approvals.c.id), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("tool", String(200), nullable=False),
    Column("args", JSON, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("allowed_decisions", JSON, nullable=False),
    Column("args_schema", JSON),
    Column("result", Text),
    Column("decision_type", String(16)),
    Column("decided_by", String(64)),
    Column("decided_at", DateTime(timezone=True)),
    Column("edited_args", JSON),
    Column("decision_message", Text),
)

# Where an escalated request was re-posted, one row per stage after the first.
approval_escalations = Table(
    "countersign_approval_escalations",
    metadata,
    Column("approval_id", String(32), ForeignKey(approvals.c.id), primary_key=True),
    Column("stage", Integer, primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("message_ts", String(32)),
    Column("at", DateTime(timezone=True), nullable=False),
)

# Approvals toward a quorum: one row per approver and action; the action is decided at the quorum.
approval_votes = Table(
    "countersign_approval_votes",
    metadata,
    Column("approval_id", String(32), ForeignKey(approvals.c.id), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

# Admins' settings from Slack, per "agent" or "agent.tool" (see approvals.admin_settings).
overrides = Table(
    "countersign_settings",
    metadata,
    Column("scope", String(400), primary_key=True),
    Column("settings", JSON, nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

audit_log = Table(
    "countersign_audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event", String(64), nullable=False),
    Column("approval_id", String(32), index=True),
    Column("actor", String(64)),
    Column("detail", JSON, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
