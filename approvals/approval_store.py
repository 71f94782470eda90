"""The approval store: runs, approval requests, decisions and the audit log, in SQL (SQLAlchemy Core).

SQL is the source of truth: a decision is committed here before anything is enqueued, and
"first decision wins" is one conditional UPDATE, atomic on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    update,
)

from approvals.errors import AlreadyDecided, AlreadyVoted, ApprovalNotFound
from approvals.models import (
    ApprovalRequest,
    AuditEvent,
    Escalation,
    Decision,
    DecisionType,
    NewApprovalRequest,
    ProposedAction,
    Run,
    RunStatus,
    Status,
    utcnow,
)

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


def create_db_engine(url: str) -> Engine:
    """An engine for the store; SQLite waits for locks (bot and worker share the file) and enforces foreign keys."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    return engine


def _action(row: Any, votes: list[str]) -> ProposedAction:
    decision = None
    if row["decision_type"] is not None:
        decision = Decision(
            type=row["decision_type"],
            decided_by=row["decided_by"],
            decided_at=_aware(row["decided_at"]),
            edited_args=row["edited_args"],
            message=row["decision_message"],
        )
    return ProposedAction(
        tool=row["tool"],
        args=row["args"],
        description=row["description"],
        allowed_decisions=row["allowed_decisions"],
        args_schema=row["args_schema"],
        decision=decision,
        votes=votes,
        result=row["result"],
    )


class Decided(NamedTuple):
    """What `decide` did: the request as it now stands, which actions this call decided, whether it
    completed the request (then, and only then, the run may resume), and which actions it only voted on."""

    approval: ApprovalRequest
    positions: list[int]
    completed: bool
    voted: list[int] = []


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class ApprovalStore:
    """Reads and writes runs, approval requests, decisions and audit rows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_schema(self) -> None:
        """Create the tables that do not exist yet (and put SQLite in WAL mode, which the file keeps)."""
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:
                # Readers never block the one writer, so the bot and the worker share the file.
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        metadata.create_all(self.engine)

    def warm_up(self) -> None:
        """Compile the statements a resume job runs first, so jobs forked from this process find them
        in the engine's cache instead of compiling them again each time."""
        with suppress(ApprovalNotFound):
            self.get("")
        with suppress(KeyError):
            self.get_run("")

    # Runs

    def create_run(self, run: Run) -> Run:
        """Record a new run; starting the same thread twice keeps the first record."""
        with self.engine.begin() as conn:
            if conn.execute(select(runs.c.thread_id).where(runs.c.thread_id == run.thread_id)).first():
                return self.get_run(run.thread_id, conn)
            now = utcnow()
            conn.execute(insert(runs).values(**run.model_dump(), updated_at=now))
            self._audit(conn, "run_started", None, run.requested_by, {"thread_id": run.thread_id, "agent": run.agent})
        return run

    def get_run(self, thread_id: str, conn: Connection | None = None) -> Run:
        """The run of one LangGraph thread."""
        with self._connect(conn) as c:
            row = c.execute(select(runs).where(runs.c.thread_id == thread_id)).mappings().first()
        if row is None:
            raise KeyError(f"no run with thread_id {thread_id!r}")
        return Run(**{**row, "created_at": _aware(row["created_at"])})

    def update_run(self, thread_id: str, **values: Any) -> None:
        """Set fields of a run (status, outcome, where its Slack thread is)."""
        if "status" in values:
            values["status"] = RunStatus(values["status"]).value
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.thread_id == thread_id).values(**values, updated_at=utcnow()))

    def set_run_thread(self, thread_id: str, channel: str, ts: str) -> None:
        """Remember the Slack thread the run's requests and outcome go to, if none yet."""
        with self.engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.thread_id == thread_id, runs.c.slack_thread_ts.is_(None))
                .values(slack_channel=channel, slack_thread_ts=ts, updated_at=utcnow())
            )

    # Approval requests

    def create_request(self, new: NewApprovalRequest) -> ApprovalRequest:
        """Store a new pending request for a run's interrupt."""
        approval_id = uuid.uuid4().hex
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                insert(approvals).values(
                    id=approval_id,
                    thread_id=new.thread_id,
                    interrupt_id=new.interrupt_id,
                    kind=new.kind,
                    agent_message=new.agent_message,
                    gate=new.gate.model_dump(mode="json"),
                    status=Status.PENDING.value,
                    deadline_at=now + new.gate.timeout,
                    stage=0,
                    timeout_action=new.gate.action_at_deadline(0),
                    created_at=now,
                )
            )
            conn.execute(
                insert(approval_actions),
                [
                    {
                        "approval_id": approval_id,
                        "position": position,
                        "tool": action.tool,
                        "args": action.args,
                        "description": action.description,
                        "allowed_decisions": [d.value for d in action.allowed_decisions],
                        "args_schema": action.args_schema,
                        "result": action.result,
                    }
                    for position, action in enumerate(new.actions)
                ],
            )
            self._audit(conn, "request_created", approval_id, None, {"thread_id": new.thread_id})
        return self.get(approval_id)

    def set_message(self, approval_id: str, channel: str, ts: str) -> None:
        """Remember where the request's Slack message is, so later updates find it."""
        with self.engine.begin() as conn:
            conn.execute(update(approvals).where(approvals.c.id == approval_id).values(channel=channel, message_ts=ts))

    def get(self, approval_id: str) -> ApprovalRequest:
        """One request with its actions (and their decisions) and its run."""
        with self.engine.connect() as conn:
            row = conn.execute(select(approvals).where(approvals.c.id == approval_id)).mappings().first()
            # Queried even for a missing request, so `warm_up` compiles every statement of this method.
            action_rows = conn.execute(
                select(approval_actions)
                .where(approval_actions.c.approval_id == approval_id)
                .order_by(approval_actions.c.position)
            ).mappings().all()
            votes: dict[int, list[str]] = {}
            for vote in conn.execute(
                select(approval_votes).where(approval_votes.c.approval_id == approval_id).order_by(approval_votes.c.at)
            ).mappings():
                votes.setdefault(vote["position"], []).append(vote["user_id"])
            escalations = conn.execute(
                select(approval_escalations)
                .where(approval_escalations.c.approval_id == approval_id)
                .order_by(approval_escalations.c.stage)
            ).mappings().all()
            if row is None:
                raise ApprovalNotFound(approval_id)
            actions = [_action(a, votes.get(a["position"], [])) for a in action_rows]
            run = self.get_run(row["thread_id"], conn)
        return ApprovalRequest(
            id=row["id"],
            thread_id=row["thread_id"],
            interrupt_id=row["interrupt_id"],
            kind=row["kind"],
            agent_message=row["agent_message"],
            gate=row["gate"],
            actions=actions,
            run=run,
            status=row["status"],
            channel=row["channel"],
            message_ts=row["message_ts"],
            deadline_at=_aware(row["deadline_at"]),
            stage=row["stage"],
            escalations=[
                Escalation(stage=e["stage"], channel=e["channel"], message_ts=e["message_ts"], at=_aware(e["at"]))
                for e in escalations
            ],
            decided_at=_aware(row["decided_at"]),
            resumed_at=_aware(row["resumed_at"]),
            created_at=_aware(row["created_at"]),
        )

    def decide(
        self, approval_id: str, decision: Decision, positions: list[int] | None = None, quorum: int = 1
    ) -> Decided:
        """Record `decision` on the given actions (all undecided ones when None), first decision wins.

        With a `quorum` above one, an approval is a vote: the action is approved once that many
        distinct people approved it (`AlreadyVoted` for a second vote by the same person). Raises
        `AlreadyDecided` when every targeted action was decided first. The request is complete when
        its last action is decided; exactly one caller sees `completed`.
        """
        with self.engine.begin() as conn:
            # A no-op write on the request row: it serialises deciders of one request (a row lock on
            # PostgreSQL, the write lock on SQLite) so exactly one of them sees it complete.
            open_ = conn.execute(
                update(approvals)
                .where(approvals.c.id == approval_id, approvals.c.status == Status.PENDING.value)
                .values(status=Status.PENDING.value)
            ).rowcount
            won: list[int] = []
            completed = False
            if open_:
                targets = approval_actions.c.approval_id == approval_id
                if positions is not None:
                    targets &= approval_actions.c.position.in_(positions)
                won = list(
                    conn.execute(
                        select(approval_actions.c.position).where(targets, approval_actions.c.decision_type.is_(None))
                    ).scalars()
                )
            voted: list[int] = []
            if won and decision.type is DecisionType.APPROVE and quorum > 1:
                voted, won = self._vote(conn, approval_id, decision, won, quorum)
            if won:
                conn.execute(
                    update(approval_actions)
                    .where(approval_actions.c.approval_id == approval_id, approval_actions.c.position.in_(won))
                    .values(
                        decision_type=decision.type.value,
                        decided_by=decision.decided_by,
                        decided_at=decision.decided_at,
                        edited_args=decision.edited_args,
                        decision_message=decision.message,
                    )
                )
                self._audit(
                    conn,
                    "decided",
                    approval_id,
                    decision.decided_by,
                    {"actions": won, **decision.model_dump(mode="json", exclude={"decided_by", "decided_at"})},
                )
                kinds = conn.execute(
                    select(approval_actions.c.decision_type).where(approval_actions.c.approval_id == approval_id)
                ).scalars().all()
                completed = None not in kinds
                if completed:
                    conn.execute(
                        update(approvals)
                        .where(approvals.c.id == approval_id)
                        .values(status=Status.summarising([DecisionType(k) for k in kinds]).value, decided_at=utcnow())
                    )
        current = self.get(approval_id)
        if not won and not voted:
            if open_ and decision.type is DecisionType.APPROVE and quorum > 1:
                raise AlreadyVoted(current, decision.decided_by)
            raise AlreadyDecided(current, positions)
        return Decided(approval=current, positions=won, completed=completed, voted=voted)

    def _vote(
        self, conn: Connection, approval_id: str, decision: Decision, positions: list[int], quorum: int
    ) -> tuple[list[int], list[int]]:
        """Add this approver's vote on each action; returns (voted only, reached the quorum)."""
        voter = decision.decided_by
        already = set(
            conn.execute(
                select(approval_votes.c.position).where(
                    approval_votes.c.approval_id == approval_id, approval_votes.c.user_id == voter
                )
            ).scalars()
        )
        new = [p for p in positions if p not in already]
        if new:
            conn.execute(
                insert(approval_votes),
                [{"approval_id": approval_id, "position": p, "user_id": voter, "at": decision.decided_at} for p in new],
            )
            self._audit(conn, "voted", approval_id, voter, {"actions": new, "quorum": quorum})
        reached = []
        for position in new:
            votes = conn.execute(
                select(approval_votes.c.user_id).where(
                    approval_votes.c.approval_id == approval_id, approval_votes.c.position == position
                )
            ).scalars().all()
            if len(votes) >= quorum:
                reached.append(position)
        return [p for p in new if p not in reached], reached

    # Deadlines

    def expire_due(self, now: datetime, by: str) -> list[str]:
        """Apply every due deadline whose outcome is reject or approve, in one transaction; returns the
        ids of the requests it completed (first decision wins: a request decided meanwhile is skipped)."""
        is_due = (
            approvals.c.status == Status.PENDING.value,
            approvals.c.deadline_at <= now,
            approvals.c.timeout_action.in_(["reject", "approve"]),
        )
        with self.engine.begin() as conn:
            # Write first, as `decide` does: it locks the due rows (PostgreSQL) or the database (SQLite)
            # before anything is read, so a racing click and this deadline serialise; first one wins.
            conn.execute(update(approvals).where(*is_due).values(status=Status.PENDING.value))
            due = conn.execute(
                select(approvals.c.id, approvals.c.timeout_action, approvals.c.deadline_at).where(*is_due)
            ).all()
            for action in ("reject", "approve"):
                ids = [row.id for row in due if row.timeout_action == action]
                if not ids:
                    continue
                decision = DecisionType.REJECT if action == "reject" else DecisionType.APPROVE
                conn.execute(
                    update(approval_actions)
                    .where(approval_actions.c.approval_id.in_(ids), approval_actions.c.decision_type.is_(None))
                    .values(
                        decision_type=decision.value,
                        decided_by=by,
                        decided_at=now,
                        decision_message="The request expired: nobody decided before its deadline."
                        if decision is DecisionType.REJECT
                        else None,
                    )
                )
                conn.execute(
                    update(approvals)
                    .where(approvals.c.id.in_(ids), approvals.c.status == Status.PENDING.value)
                    .values(status=(Status.EXPIRED if action == "reject" else Status.APPROVED).value, decided_at=now)
                )
            if due:
                conn.execute(
                    insert(audit_log),
                    [
                        {
                            "event": "deadline",
                            "approval_id": row.id,
                            "actor": by,
                            "detail": {"outcome": row.timeout_action, "deadline_at": _aware(row.deadline_at).isoformat()},
                            "at": now,
                        }
                        for row in due
                    ],
                )
        return [row.id for row in due]

    def escalations_due(self, now: datetime) -> list[ApprovalRequest]:
        """Pending requests whose deadline passed and whose deadline escalates them."""
        with self.engine.connect() as conn:
            ids = conn.execute(
                select(approvals.c.id).where(
                    approvals.c.status == Status.PENDING.value,
                    approvals.c.deadline_at <= now,
                    approvals.c.timeout_action == "escalate",
                )
            ).scalars().all()
        return [self.get(i) for i in ids]

    def escalate(self, approval: ApprovalRequest, channel: str, now: datetime) -> ApprovalRequest | None:
        """Move a pending request to its next stage with a new deadline; None if it was decided or moved first."""
        stage = approval.stage + 1
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(approvals)
                .where(
                    approvals.c.id == approval.id,
                    approvals.c.status == Status.PENDING.value,
                    approvals.c.stage == approval.stage,
                )
                .values(
                    stage=stage,
                    deadline_at=now + approval.gate.timeout_of(stage),
                    timeout_action=approval.gate.action_at_deadline(stage),
                )
            ).rowcount
            if not moved:
                return None
            conn.execute(
                insert(approval_escalations).values(approval_id=approval.id, stage=stage, channel=channel, at=now)
            )
            self._audit(conn, "escalated", approval.id, None, {"stage": stage, "channel": channel})
        return self.get(approval.id)

    def set_escalation_message(self, approval_id: str, stage: int, ts: str) -> None:
        """Remember the message an escalation posted, so decisions update it too."""
        with self.engine.begin() as conn:
            conn.execute(
                update(approval_escalations)
                .where(approval_escalations.c.approval_id == approval_id, approval_escalations.c.stage == stage)
                .values(message_ts=ts)
            )

    def pending_deadlines(self) -> list[tuple[str, datetime, int]]:
        """(id, deadline, stage) of every pending request, for re-scheduling after Redis lost its jobs."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(approvals.c.id, approvals.c.deadline_at, approvals.c.stage).where(
                    approvals.c.status == Status.PENDING.value, approvals.c.deadline_at.is_not(None)
                )
            ).all()
        return [(row.id, _aware(row.deadline_at), row.stage) for row in rows]  # type: ignore[misc]

    def mark_resumed(self, approval: ApprovalRequest, *, run_continues: bool = True) -> None:
        """Note that the decision was handed to the agent (so no sweep resumes it again), and its run goes on."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(update(approvals).where(approvals.c.id == approval.id).values(resumed_at=now))
            if run_continues:
                conn.execute(
                    update(runs)
                    .where(runs.c.thread_id == approval.thread_id)
                    .values(status=RunStatus.RUNNING.value, updated_at=now)
                )

    def decided_not_resumed(self) -> list[str]:
        """Ids of decided requests whose decision never reached the agent (e.g. Redis lost the job)."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(approvals.c.id)
                    .where(approvals.c.status != Status.PENDING.value, approvals.c.resumed_at.is_(None))
                    .order_by(approvals.c.decided_at)
                ).scalars()
            )

    def pending(self, limit: int = 50) -> list[ApprovalRequest]:
        """Requests still waiting for a decision, the oldest deadline first."""
        with self.engine.connect() as conn:
            ids = conn.execute(
                select(approvals.c.id)
                .where(approvals.c.status == Status.PENDING.value, approvals.c.message_ts.is_not(None))
                .order_by(approvals.c.deadline_at, approvals.c.created_at)
                .limit(limit)
            ).scalars().all()
        return [self.get(i) for i in ids]

    def requests_for_thread(self, thread_id: str) -> list[ApprovalRequest]:
        """Every request of a run, oldest first."""
        with self.engine.connect() as conn:
            ids = conn.execute(
                select(approvals.c.id).where(approvals.c.thread_id == thread_id).order_by(approvals.c.created_at)
            ).scalars().all()
        return [self.get(i) for i in ids]

    # Audit log

    def audit(self, event: str, approval_id: str | None, actor: str | None, detail: dict[str, Any]) -> None:
        """Append one row to the audit log."""
        with self.engine.begin() as conn:
            self._audit(conn, event, approval_id, actor, detail)

    def audit_events(self, approval_id: str | None = None) -> list[AuditEvent]:
        """The audit log, oldest first, optionally for one request."""
        query = select(audit_log).order_by(audit_log.c.id)
        if approval_id is not None:
            query = query.where(audit_log.c.approval_id == approval_id)
        with self.engine.connect() as conn:
            return [AuditEvent(**{**row, "at": _aware(row["at"])}) for row in conn.execute(query).mappings()]

    @staticmethod
    def _audit(conn: Connection, event: str, approval_id: str | None, actor: str | None, detail: dict[str, Any]) -> None:
        conn.execute(
            insert(audit_log).values(event=event, approval_id=approval_id, actor=actor, detail=detail, at=utcnow())
        )

    @contextmanager
    def _connect(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.engine.connect() as own:
                yield own

