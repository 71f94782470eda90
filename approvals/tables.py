"""The SQL schema: every table Countersign keeps, as SQLAlchemy Core tables.

Only `countersign migrate` changes the database (Alembic revisions in `approvals/migrations`);
these definitions are what the queries in `approvals.store` read and write, and what the
latest revision builds.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database.

    PostgreSQL keeps the zone; SQLite keeps none and hands back naive values, which are UTC
    because nothing else is ever written. Naive input is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Countersign stores UTC-aware times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | str | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite, read through a plain text column
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

runs = Table(
    "countersign_runs",
    metadata,
    Column("thread_id", String(64), primary_key=True),
    Column("agent", String(200), nullable=False),
    Column("input_text", Text, nullable=False),
    Column("requested_by", String(64)),
    Column("reply_channel", String(64)),
    # queued -> running -> waiting (a request is out) -> running ... -> done | failed
    Column("status", String(16), nullable=False),
    Column("outcome", Text),
    # How the run ended, as data (approvals.models.Ending); front-ends word it.
    Column("ending", JSON),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The lease: which worker works on the thread, until when (renewed while it works). A dead
    # worker's lease runs out, and the dispatcher hands the thread to another.
    Column("lease_owner", String(64)),
    Column("lease_expires_at", UTCDateTime),
    # Leases taken since the run last made progress; past the limit the run fails for good.
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    # Set once the run's ending was told: a run that is done but not told is still owed.
    Column("outcome_posted_at", UTCDateTime),
    # A person asked to stop the run (who, when, why): nothing after its pause runs, the agent is not resumed.
    Column("stop_requested_by", String(64)),
    Column("stop_requested_at", UTCDateTime),
    Column("stop_reason", Text),
    Index("ix_countersign_runs_status", "status"),
)

approvals = Table(
    "countersign_approvals",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("thread_id", String(64), ForeignKey(runs.c.thread_id), nullable=False, index=True),
    Column("interrupt_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("agent_message", Text, nullable=False, default=""),
    # A link to the context of the call, when its caller gave one (the approval API).
    Column("link", String(2000)),
    Column("gate", JSON, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    # The channel whose members decide it when its rules name no approvers: where it is shown.
    Column("channel", String(64)),
    # When a front-end first showed it: until then a job that stored it still owes showing it.
    Column("shown_at", UTCDateTime),
    # The current deadline, the escalation stage it belongs to, and what it does (reject, approve, escalate).
    Column("deadline_at", UTCDateTime, index=True),
    Column("stage", Integer, nullable=False, default=0),
    Column("timeout_action", String(16), nullable=False, default="reject"),
    Column("decided_at", UTCDateTime),
    # When the decision reached the agent: set only once its checkpoint moved past the interrupt.
    # Decided and not resumed means a resume is owed.
    Column("resumed_at", UTCDateTime, index=True),
    # Indexed for the approval figures, which count the requests created in a window.
    Column("created_at", UTCDateTime, nullable=False, index=True),
    # When a worker began handing the decision to the agent; a later attempt that finds it set
    # knows an earlier one may have got part of the way.
    Column("delivery_started_at", UTCDateTime),
    # Bumped when a call of the request changes under the people deciding it (an edit re-proposed under
    # another rule): a click on what was shown before it decides nothing.
    Column("revision", Integer, nullable=False, default=0, server_default="0"),
    # The gate's allow_self_approval, as a column: the App Home filters who may decide in SQL.
    Column("allow_self_approval", Boolean, nullable=False, default=False, server_default=false()),
    # Pending lists read the pending rows in deadline order without sorting the whole history.
    Index("ix_countersign_approvals_pending", "status", "deadline_at", "created_at", "id"),
    # The channels pending requests are shown in, read a channel at a time (the lists' membership check).
    Index("ix_countersign_approvals_pending_channels", "status", "channel"),
)


def _approval_key() -> Column[str]:
    """The request a row belongs to, as part of the row's key (a Column belongs to one table: a new one each call)."""
    return Column("approval_id", String(32), ForeignKey(approvals.c.id), primary_key=True)


def _of_approval(name: str, *columns: Column[object] | Index) -> Table:
    """A table of rows that belong to one request: keyed by the request's id first, then `columns`."""
    return Table(name, metadata, _approval_key(), *columns)


# Who may decide a call of a request (its gate's approvers: user ids, user groups as `@handle` or `S…`
# id), one row each; `#C…` for a call whose rule names no approvers but a channel of its own (its members
# decide); `*` for one decided by the members of the channels the request is shown in. Keyed by approver
# first: the App Home looks up a user's requests by it.
ANYONE = "*"
CHANNEL_MEMBERS = "#"
approval_approvers = Table(
    "countersign_approval_approvers",
    metadata,
    Column("approver", String(64), primary_key=True),
    _approval_key(),
)

approval_actions = _of_approval(
    "countersign_approval_actions",
    Column("position", Integer, primary_key=True),
    Column("tool", String(200), nullable=False),
    Column("args", JSON, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("allowed_decisions", JSON, nullable=False),
    Column("args_schema", JSON),
    Column("result", Text),
    Column("call_id", String(128)),
    # The gate of the call's own rule (null on requests stored before calls had their own).
    Column("gate", JSON),
    # An edit re-proposed under another rule: the arguments it runs with if approved, and who proposed them.
    Column("proposed_args", JSON),
    Column("proposed_by", String(64)),
    Column("decision_type", String(16)),
    Column("decided_by", String(64)),
    Column("decided_at", UTCDateTime),
    Column("edited_args", JSON),
    Column("decision_message", Text),
    # A delegate's decision: the approver they stood in for.
    Column("decided_for", String(64)),
)

# Where an escalated request goes, one row per stage after the first; a row without shown_at is an
# escalation decided in SQL and not yet shown (owed).
approval_escalations = _of_approval(
    "countersign_approval_escalations",
    Column("stage", Integer, primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("shown_at", UTCDateTime),
    # Not shown yet: the front-ends' failed tries, and when the next is due (every worker waits for it).
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
)

# Where a front-end showed something, in its own terms (Slack: a channel and a message's ts): one row per
# front-end and subject (`run:<thread>`, `progress:<thread>`, `request:<id>`, `request:<id>:stage:<n>`).
# The front-end that wrote a reference is the only one that reads it.
placements = Table(
    "countersign_placements",
    metadata,
    Column("front_end", String(32), primary_key=True),
    Column("subject", String(160), primary_key=True),
    Column("ref", JSON, nullable=False),
    Column("noted_at", UTCDateTime, nullable=False),
)

# Approvals toward a quorum: one row per approver and action; the action is decided at the quorum.
approval_votes = _of_approval(
    "countersign_approval_votes",
    Column("position", Integer, primary_key=True),
    Column("user_id", String(64), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    # A delegate's vote: the approver they stood in for.
    Column("for_user", String(64)),
)

# People a request was handed to ("Ask someone else…"): each may decide its calls as an approver named by
# their rule would (the rule's other limits still hold). Also listed in approval_approvers for the App Home.
approval_handovers = _of_approval(
    "countersign_approval_handovers",
    Column("user_id", String(64), primary_key=True),
    Column("asked_by", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    # The rules of the calls it waited on when handed over: a call re-proposed under another rule since is not theirs.
    Column("rules", JSON, nullable=False),
)

# What each person said about themselves: whether runs they start tell them by DM, and whom their requests
# also go to while they are away (until when).
people = Table(
    "countersign_people",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("notify_runs", Boolean),
    Column("delegate", String(64)),
    Column("away_until", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_countersign_people_delegate", "delegate"),
)

# Approvals that cover a run's later calls of the same tool under the same rule (a rule's `remember`): for the
# rest of the run (no `until`) or until a moment. A call that goes ahead on one names it in its decision.
remembered_approvals = Table(
    "countersign_remembered_approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("thread_id", String(64), ForeignKey(runs.c.thread_id), nullable=False),
    Column("rule", String(400), nullable=False),
    Column("tool", String(200), nullable=False),
    Column("approval_id", String(32), ForeignKey(approvals.c.id), nullable=False),
    Column("position", Integer, nullable=False),
    Column("approved_by", String(64), nullable=False),
    Column("until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_countersign_remembered_approvals_run", "thread_id", "tool"),
)

# Reminders owed before a deadline: one row per request, stage and moment; sent_at once posted.
approval_reminders = _of_approval(
    "countersign_approval_reminders",
    Column("stage", Integer, primary_key=True),
    Column("due_at", UTCDateTime, primary_key=True),
    Column("sent_at", UTCDateTime),
    Index("ix_countersign_approval_reminders_due", "sent_at", "due_at"),
)

# Every tool call a gated graph's ToolNode executes: started before the tool runs, finished with
# its result after. A call found started and never finished ran in a worker that died; it is not
# run again (Countersign cannot know whether it took effect).
tool_calls = Table(
    "countersign_tool_calls",
    metadata,
    Column("thread_id", String(64), primary_key=True),
    # The LangGraph task that ran the call (checkpoint namespace): a re-run of the same task after
    # a crash has the same one, a later turn another.
    Column("task", String(512), primary_key=True),
    Column("tool_call_id", String(128), primary_key=True),
    Column("tool", String(200), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    # The ToolMessage it returned (content, status), replayed instead of running the tool again.
    Column("result", JSON),
    # Set when a re-run found it unfinished and the run's thread was told.
    Column("uncertain_at", UTCDateTime),
)

# Admins' settings from Slack, per "agent" or "agent.tool" (see approvals.admin_settings).
overrides = Table(
    "countersign_settings",
    metadata,
    Column("scope", String(400), primary_key=True),
    Column("settings", JSON, nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The audit log is a hash chain (see approvals.audit): each row stores the SHA-256 of the row before it
# and of its own canonical content (which includes that previous hash), so changing, removing or
# inserting a row breaks the chain from there on.
audit_log = Table(
    "countersign_audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event", String(64), nullable=False),
    Column("approval_id", String(32), index=True),
    Column("actor", String(64)),
    Column("detail", JSON, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
)

# The chain's head: one row (id 1) naming the last audit row and its hash. Every writer locks it before
# appending, so concurrent writers queue and each links to the row committed before it; it also shows
# when rows were removed from the end.
audit_head = Table(
    "countersign_audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_id", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

# The approval API's keys: each lets one agent ask and read its own approvals. Only the key's SHA-256 is kept.
api_keys = Table(
    "countersign_api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("agent", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(64)),
    Column("revoked_at", UTCDateTime),
    # Kept as is, unlike the key: the worker signs webhooks with it.
    Column("webhook_secret", String(100), nullable=False),
)

# What the approval API was asked, one row per approval it created, written before the approval itself: a
# caller that asks again with the same idempotency key gets the same approval, finished if a crash cut it short.
api_requests = Table(
    "countersign_api_requests",
    metadata,
    Column("approval_id", String(32), primary_key=True),
    Column("agent", String(200), nullable=False),
    Column("idempotency_key", String(200)),
    Column("body", JSON, nullable=False),
    Column("result", JSON),
    Column("created_at", UTCDateTime, nullable=False),
    # The key that asked: its webhook secret signs the decision's delivery.
    Column("key_id", String(32)),
    UniqueConstraint("agent", "idempotency_key", name="uq_countersign_api_requests_idempotency"),
)

# Each request Slack delivered (a click, a form, a slash command, an event), by a key a retry or a Socket Mode
# redelivery shares with the first delivery, claimed before it is handled: a delivery whose key is here was
# handled once already, and is answered with what the first answered (`answer`, once `answered_at` is set; an
# empty answer, a plain ack, is not written). Rows older than Slack's last retry are pruned.
deliveries = Table(
    "countersign_deliveries",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("received_at", UTCDateTime, nullable=False, index=True),
    Column("answered_at", UTCDateTime),
    Column("content_type", String(100)),
    Column("answer", Text),
)
