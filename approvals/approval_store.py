"""The approval store: runs, approval requests, decisions, owed work and the audit log, in SQL.

SQL is the source of truth. A decision is committed here before anything is enqueued, and
"first decision wins" is one conditional UPDATE, atomic on SQLite and PostgreSQL alike. What is
owed next (a run to take further, a decision to hand to its agent, a deadline or a reminder) is
read from these tables by the dispatcher, so a Redis that lost its data delays work and loses none.
The tables themselves are in `approvals.tables`.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    RowMapping,
    String,
    and_,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from approvals.audit import AuditEntry, append_audit
from approvals.errors import AlreadyDecided, AlreadyVoted, ApprovalNotFound, RequestChanged
from approvals.gates import request_gate
from approvals.models import (
    ApprovalRequest,
    AuditEvent,
    Decision,
    DecisionType,
    Ending,
    Escalation,
    Gate,
    NewApprovalRequest,
    Page,
    ProposedAction,
    Run,
    RunStatus,
    Status,
    utcnow,
)
from approvals.postgres_timeouts import missing_timeouts
from approvals.tables import (
    ANYONE,
    CHANNEL_MEMBERS,
    approval_actions,
    approval_approvers,
    approval_escalations,
    approval_reminders,
    approval_votes,
    approvals,
    audit_log,
    runs,
    tool_calls,
)

# Ids per IN (...) when loading requests in batches: well under every database's limit on parameters.
_BATCH = 500

# The loader's statements, built once: building statements and their cache keys on every call was
# about a fifth of the bot's CPU in a profile of clicks, and a click loads its request twice.
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_LOAD_REQUESTS = select(approvals).where(approvals.c.id.in_(_IDS))
_LOAD_ACTIONS = (
    select(approval_actions)
    .where(approval_actions.c.approval_id.in_(_IDS))
    .order_by(approval_actions.c.approval_id, approval_actions.c.position)
)
_LOAD_VOTES = select(approval_votes).where(approval_votes.c.approval_id.in_(_IDS)).order_by(approval_votes.c.at)
_LOAD_ESCALATIONS = (
    select(approval_escalations)
    .where(approval_escalations.c.approval_id.in_(_IDS))
    .order_by(approval_escalations.c.approval_id, approval_escalations.c.stage)
)
_LOAD_RUNS = select(runs).where(runs.c.thread_id.in_(_IDS))
# Recording a decision, before a click is acked: built once, as building them was half of that step's CPU.
_ID: BindParameter[str] = bindparam("request")
_HOLD_PENDING = (
    update(approvals).where(approvals.c.id == _ID, approvals.c.status == Status.PENDING.value).values(status=Status.PENDING.value)
)
# An approvers' entry of a call decided by channel members: those of the request's channels, or of its rule's own.
# (A range, not LIKE: SQLite's LIKE ignores case, so it cannot use the approvers' key.)
_OWN_CHANNEL = and_(
    approval_approvers.c.approver >= CHANNEL_MEMBERS, approval_approvers.c.approver < chr(ord(CHANNEL_MEMBERS) + 1)
)
_DECIDED_BY_MEMBERS = or_(approval_approvers.c.approver == ANYONE, _OWN_CHANNEL)
_REVISION = select(approvals.c.revision).where(approvals.c.id == _ID)
_UNDECIDED = select(approval_actions.c.position).where(
    approval_actions.c.approval_id == _ID, approval_actions.c.decision_type.is_(None)
)
_UNDECIDED_OF = _UNDECIDED.where(approval_actions.c.position.in_(bindparam("positions", expanding=True)))
_REPROPOSED = approval_actions.c.proposed_args.is_not(None)
# Approving a call an edit re-proposed under another rule (a person, the policy or its deadline) runs it
# with the edit's arguments: recorded as that edit.
_APPROVED_AS_RUN = {
    "decision_type": case((_REPROPOSED, DecisionType.EDIT.value), else_=DecisionType.APPROVE.value),
    "edited_args": approval_actions.c.proposed_args,
}
_APPROVING_A_REPROPOSAL = and_(bindparam("type", type_=String) == DecisionType.APPROVE.value, _REPROPOSED)
_DECIDE_ACTIONS = (
    update(approval_actions)
    .where(approval_actions.c.approval_id == _ID, approval_actions.c.position.in_(bindparam("positions", expanding=True)))
    .values(
        decision_type=case(
            (_APPROVING_A_REPROPOSAL, DecisionType.EDIT.value),
            else_=bindparam("type", type_=String),
        ),
        edited_args=case(
            (_APPROVING_A_REPROPOSAL, approval_actions.c.proposed_args),
            else_=bindparam("edited", type_=approval_actions.c.edited_args.type),
        ),
        decided_by=bindparam("by"),
        decided_at=bindparam("at"),
        decision_message=bindparam("message"),
    )
)
_DECISION_KINDS = select(approval_actions.c.decision_type).where(approval_actions.c.approval_id == _ID)
_COMPLETE = update(approvals).where(approvals.c.id == _ID).values(status=bindparam("summary"), decided_at=bindparam("when"))
# A run, taking its lease, and what a job writes at each step of it: built once (building them was a
# visible share of a job's CPU).
_THREAD: BindParameter[str] = bindparam("thread")
_NOW: BindParameter[datetime] = bindparam("now")
_GET_RUN = select(runs).where(runs.c.thread_id == _THREAD)
_CLAIM = (
    update(runs)
    .where(
        runs.c.thread_id == _THREAD,
        or_(runs.c.lease_owner.is_(None), runs.c.lease_expires_at < _NOW, runs.c.lease_owner == bindparam("owner")),
    )
    .values(lease_owner=bindparam("owner"), lease_expires_at=bindparam("until"), attempts=runs.c.attempts + 1)
    .returning(*runs.c)
)
_FINISH_RUN = (
    update(runs)
    .where(runs.c.thread_id == _THREAD)
    .values(
        status=bindparam("b_status"),
        outcome=bindparam("b_outcome"),
        ending=bindparam("b_ending"),
        attempts=0,
        next_attempt_at=None,
        updated_at=_NOW,
    )
)
_OUTCOME_POSTED = update(runs).where(runs.c.thread_id == _THREAD).values(outcome_posted_at=_NOW)
_SET_RUN_THREAD = (
    update(runs)
    .where(runs.c.thread_id == _THREAD, runs.c.slack_thread_ts.is_(None))
    .values(slack_channel=bindparam("b_channel"), slack_thread_ts=bindparam("b_ts"), updated_at=_NOW)
)
_SET_PROGRESS = update(runs).where(runs.c.thread_id == _THREAD).values(progress_ts=bindparam("b_ts"))
_RELEASE = (
    update(runs)
    .where(runs.c.thread_id == _THREAD, runs.c.lease_owner == bindparam("owner"))
    .values(lease_owner=None, lease_expires_at=None)
)
_PROGRESSED = update(runs).where(runs.c.thread_id == _THREAD).values(attempts=0, next_attempt_at=None)
_RUN_RUNNING = update(runs).where(runs.c.thread_id == _THREAD).values(status=RunStatus.RUNNING.value, updated_at=_NOW)
_RUN_PROGRESSED_AT = update(runs).where(runs.c.thread_id == _THREAD).values(attempts=0, next_attempt_at=None, updated_at=_NOW)
_RUN_GOES_ON = _RUN_PROGRESSED_AT.values(status=RunStatus.RUNNING.value)
_OTHER_RESUMES_OWED = (
    select(approvals.c.id)
    .where(approvals.c.thread_id == _THREAD, approvals.c.status != Status.PENDING.value, approvals.c.resumed_at.is_(None))
    .order_by(approvals.c.decided_at)
)
_SET_MESSAGE = (
    update(approvals)
    .where(approvals.c.id == _ID)
    .values(channel=bindparam("b_channel"), message_ts=bindparam("b_ts"), permalink=bindparam("b_permalink"))
)
_SHOWN = update(approvals).where(approvals.c.id == _ID, approvals.c.shown_at.is_(None)).values(shown_at=_NOW)
_THREAD_OF = select(approvals.c.thread_id).where(approvals.c.id == _ID)
_START_DELIVERY = (
    update(approvals).where(approvals.c.id == _ID, approvals.c.delivery_started_at.is_(None)).values(delivery_started_at=_NOW)
)
_RESUMED = update(approvals).where(approvals.c.id == _ID).values(resumed_at=_NOW)
_TOOL_CALL_STARTED = insert(tool_calls)
_TOOL_CALL_FINISHED = (
    update(tool_calls)
    .where(
        tool_calls.c.thread_id == _THREAD,
        tool_calls.c.task == bindparam("b_task"),
        tool_calls.c.tool_call_id == bindparam("b_call"),
    )
    .values(finished_at=_NOW, result=bindparam("b_result"))
)
_TOOL_CALL = select(tool_calls.c.tool, tool_calls.c.finished_at, tool_calls.c.result).where(
    tool_calls.c.thread_id == _THREAD, tool_calls.c.task == bindparam("b_task"), tool_calls.c.tool_call_id == bindparam("b_call")
)
_REQUESTS_OF_THREAD = (
    select(approvals.c.id).where(approvals.c.thread_id == _THREAD).order_by(approvals.c.created_at, approvals.c.id)
)
# A request's "earlier steps": its run's decided requests from before it, newest first.
_BEFORE = (
    approvals.c.thread_id == _THREAD,
    approvals.c.created_at < bindparam("b_created"),
    approvals.c.id != _ID,
    approvals.c.status != Status.PENDING.value,
)
_DECIDED_BEFORE = (
    select(approvals.c.id)
    .where(*_BEFORE)
    .order_by(approvals.c.created_at.desc(), approvals.c.id.desc())
    .limit(bindparam("b_limit", type_=Integer))
)
_COUNT_DECIDED_BEFORE = select(func.count()).select_from(approvals).where(*_BEFORE)
# Pending lists count this far past the page and no further ("100+ more"): the count must not grow with
# the backlog (counting 1,000 past it made `/countersign pending` 2.3x slower at 10,000 pending on PostgreSQL).
COUNT_CAP = 100
# "Earlier steps" a run's request message shows: the last few decided, not the whole history.
EARLIER_STEPS = 10

_OWED_STATUSES = [RunStatus.QUEUED.value, RunStatus.RUNNING.value]
_FINISHED_STATUSES = [RunStatus.DONE.value, RunStatus.FAILED.value]


# A pooled connection used this recently is taken as it is; one idle longer is pinged first. (Pinging at
# every checkout, as `pool_pre_ping` does, was a round trip before each unit of work: 0.5 ms each on a
# local PostgreSQL, about five of them between a click and its tool.)
PING_AFTER_IDLE_SECONDS = 1.0


def create_db_engine(url: str, pool_size: int = 5) -> Engine:
    """An engine for the store; SQLite waits for locks (bot and workers share the file) and enforces foreign keys;
    PostgreSQL gives up on a silent server (`approvals.postgres_timeouts`). `pool_size`: the connections kept
    open between uses; a process whose threads use more at once than that opens and closes the others each
    time (SQLAlchemy's overflow), which on PostgreSQL starts and ends a server process every time."""
    if not url.startswith("sqlite"):
        engine = create_engine(url, connect_args=missing_timeouts(make_url(url).query), pool_size=pool_size)
        _ping_when_idle(engine)
        return engine
    engine = create_engine(url, connect_args={"timeout": 30}, pool_size=pool_size)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection before use when it sat in the pool past `PING_AFTER_IDLE_SECONDS` (or is new): a server
    restart, or a proxy that drops idle connections, costs a reconnect instead of a failed statement."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool drops this connection and checks out another (SQLAlchemy's pessimistic disconnect recipe).
            raise DisconnectionError(str(error)) from error


def _action(row: RowMapping, votes: list[str]) -> ProposedAction:
    decision = None
    if row["decision_type"] is not None:
        decision = Decision(
            type=row["decision_type"],
            decided_by=row["decided_by"],
            decided_at=row["decided_at"],
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
        call_id=row["call_id"],
        gate=row["gate"],
        proposed_args=row["proposed_args"],
        proposed_by=row["proposed_by"],
    )


def _listed_to(gates: list[Gate]) -> list[str]:
    """Whom the lists (App Home, pending) show a request to: for each call, its rule's approvers, else the
    members of its rule's own channel, else those of the channels the request is shown in (as
    `approvals.authorization.deciding_channels` decides)."""
    listed: list[str] = []
    for gate in gates:
        if gate.approvers:
            listed.extend(gate.approvers)
        else:
            listed.append(CHANNEL_MEMBERS + gate.channel if gate.channel else ANYONE)
    return list(dict.fromkeys(listed))


def _run(row: RowMapping) -> Run:
    return Run.model_validate({key: row[key] for key in Run.model_fields if key in row})


EXPIRED_MESSAGE = "The request expired: nobody decided before its deadline."


def deadline_decision(outcome: str, allowed: list[DecisionType]) -> tuple[DecisionType, str | None]:
    """What a deadline decides for one call, given what the call allows: going ahead only where Approve is
    allowed, else the fail-closed "no" the call can take (Reject, else a Reply telling the agent), saying so."""
    if outcome == "approve" and DecisionType.APPROVE in allowed:
        return DecisionType.APPROVE, None
    note = (
        "" if outcome != "approve" else " This call cannot go ahead at a deadline (Approve is not allowed), so it does not run."
    )
    if DecisionType.REJECT in allowed:
        return DecisionType.REJECT, EXPIRED_MESSAGE + note
    if DecisionType.RESPOND in allowed:
        return DecisionType.RESPOND, EXPIRED_MESSAGE + note + " (This call cannot be rejected, so the agent is told instead.)"
    # Nothing the agent reads can say no: the run is stopped without resuming it when this is delivered.
    return DecisionType.REJECT, EXPIRED_MESSAGE + " This call can be neither rejected nor answered, so the run is stopped."


class Decided(NamedTuple):
    """What `decide` did: the request as it now stands, which actions this call decided, whether it
    completed the request (then, and only then, the run may resume), and which actions it only voted on."""

    approval: ApprovalRequest
    positions: list[int]
    completed: bool
    voted: list[int]


class DecisionRecord(NamedTuple):
    """What `record_decision` did: which actions this call decided, whether it completed the request, and
    which actions it only voted on (`Decided` without the request read back)."""

    positions: list[int]
    completed: bool
    voted: list[int]


class ToolCallRecord(NamedTuple):
    """One journalled tool call: finished (with the result to replay) or not."""

    tool: str
    finished: bool
    result: dict[str, Any] | None


class Escalated(NamedTuple):
    """An escalation decided in SQL: the request moved to `stage` and is to be posted in `channel`."""

    approval_id: str
    stage: int
    channel: str


class ApprovalStore:
    """Reads and writes runs, approval requests, decisions, owed work and audit rows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite lets one connection write at a time, and a writer that finds it busy sleeps in steps of
        # up to 100 ms before trying again: under a burst of clicks the acks queued for a second. This
        # process's writers queue on a lock instead, which hands over at once (reentrant: a write may
        # open another inside it, as it could before).
        self._one_writer = engine.dialect.name == "sqlite"
        self._lock = threading.RLock()
        self._lock_pid = os.getpid()

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends (on SQLite, one of this process's at a time)."""
        if not self._one_writer:
            with self.engine.begin() as conn:
                yield conn
            return
        if self._lock_pid != os.getpid():
            # Forked (a job process): the parent's lock is not ours to wait on.
            self._lock, self._lock_pid = threading.RLock(), os.getpid()
        with self._lock, self.engine.begin() as conn:
            yield conn

    def warm_up(self) -> None:
        """Compile the statements a resume job runs first, so jobs find them in the engine's cache."""
        with suppress(ApprovalNotFound):
            self.thread_of("")
        with suppress(ApprovalNotFound):
            self.get("")
        with suppress(KeyError):
            self.get_run("")

    # Runs

    def create_run(self, run: Run) -> Run:
        """Record a new run (queued: owed to a worker); storing the same thread twice keeps the first record."""
        with self._writing() as conn:
            existing = conn.execute(select(runs).where(runs.c.thread_id == run.thread_id)).mappings().first()
            if existing is not None:
                return _run(existing)
            values = run.model_dump(exclude={"attempts", "outcome_posted_at", "progress_ts"})
            conn.execute(insert(runs).values(**values, updated_at=utcnow(), attempts=0))
            self._audit(conn, "run_started", None, run.requested_by, {"thread_id": run.thread_id, "agent": run.agent})
        return run

    def get_run(self, thread_id: str, conn: Connection | None = None) -> Run:
        """The run of one LangGraph thread."""
        with self._connect(conn) as c:
            row = c.execute(_GET_RUN, {"thread": thread_id}).mappings().first()
        if row is None:
            raise KeyError(f"no run with thread_id {thread_id!r}")
        return _run(row)

    def update_run(self, thread_id: str, **values: Any) -> None:
        """Set fields of a run (status, outcome, where its Slack thread is)."""
        if "status" in values:
            values["status"] = RunStatus(values["status"]).value
        with self._writing() as conn:
            conn.execute(update(runs).where(runs.c.thread_id == thread_id).values(**values, updated_at=utcnow()))

    def finish_run(self, thread_id: str, status: RunStatus, ending: Ending) -> None:
        """Record how a run ended (its outcome: the agent's answer, if any); then owed to people until `outcome_posted`."""
        values = {"b_status": status.value, "b_outcome": ending.answer, "b_ending": ending.model_dump(mode="json")}
        with self._writing() as conn:
            conn.execute(_FINISH_RUN, {"thread": thread_id, "now": utcnow(), **values})
            self._audit(conn, f"run_{status.value}", None, None, {"thread_id": thread_id})

    def outcome_posted(self, thread_id: str) -> None:
        """The run's final outcome reached Slack (or had nowhere to go): nothing more is owed."""
        with self._writing() as conn:
            conn.execute(_OUTCOME_POSTED, {"thread": thread_id, "now": utcnow()})

    def set_run_thread(self, thread_id: str, channel: str, ts: str) -> None:
        """Remember the Slack thread the run's requests and outcome go to, if none yet."""
        with self._writing() as conn:
            conn.execute(_SET_RUN_THREAD, {"thread": thread_id, "b_channel": channel, "b_ts": ts, "now": utcnow()})

    def set_progress_message(self, thread_id: str, ts: str) -> None:
        """Remember the run's progress message, so later steps update it."""
        with self._writing() as conn:
            conn.execute(_SET_PROGRESS, {"thread": thread_id, "b_ts": ts})

    # Leases: one worker at a time takes a thread further

    def claim(self, thread_id: str, owner: str, ttl: timedelta) -> Run | None:
        """Take the thread's lease for `ttl` if nobody holds a live one; counts an attempt. None if held."""
        now = utcnow()
        with self._writing() as conn:
            # One statement: the run comes back from the UPDATE (RETURNING, on PostgreSQL and SQLite alike).
            taken = (
                conn.execute(
                    _CLAIM,
                    {"thread": thread_id, "owner": owner, "now": now, "until": now + ttl},
                )
                .mappings()
                .first()
            )
        return _run(taken) if taken is not None else None

    def renew(self, thread_id: str, owner: str, ttl: timedelta) -> bool:
        """Extend a held lease; False when it was lost (expired and taken by another worker)."""
        with self._writing() as conn:
            return bool(
                conn.execute(
                    update(runs)
                    .where(runs.c.thread_id == thread_id, runs.c.lease_owner == owner)
                    .values(lease_expires_at=utcnow() + ttl)
                ).rowcount
            )

    def release(self, thread_id: str, owner: str) -> None:
        """Give the lease back."""
        with self._writing() as conn:
            conn.execute(_RELEASE, {"thread": thread_id, "owner": owner})

    def release_held_by(self, owner_prefix: str) -> list[str]:
        """Give back every lease whose owner starts with `owner_prefix` (a process known dead); returns
        the threads."""
        held = runs.c.lease_owner.startswith(owner_prefix, autoescape=True)
        with self._writing() as conn:
            threads = list(conn.execute(select(runs.c.thread_id).where(held)).scalars())
            if threads:
                conn.execute(update(runs).where(held).values(lease_owner=None, lease_expires_at=None))
        return threads

    def progressed(self, thread_id: str) -> None:
        """The run got somewhere (paused, delivered a decision, finished): its attempts start again."""
        with self._writing() as conn:
            conn.execute(_PROGRESSED, {"thread": thread_id})

    def failed_attempt(self, thread_id: str, retry_at: datetime, detail: dict[str, Any]) -> None:
        """An attempt raised: try again no sooner than `retry_at`, and keep the reason in the audit log."""
        with self._writing() as conn:
            conn.execute(update(runs).where(runs.c.thread_id == thread_id).values(next_attempt_at=retry_at))
            self._audit(conn, "attempt_failed", None, None, {"thread_id": thread_id, **detail})

    # What is owed (read by the dispatcher)

    def _lease_free(self, now: datetime) -> Any:
        return and_(
            or_(runs.c.lease_owner.is_(None), runs.c.lease_expires_at < now),
            or_(runs.c.next_attempt_at.is_(None), runs.c.next_attempt_at <= now),
        )

    def runs_owed(self, now: datetime, limit: int = 500) -> list[str]:
        """Threads a worker must take further (queued or running, or finished and not told), nobody on them."""
        owed = or_(
            runs.c.status.in_(_OWED_STATUSES),
            and_(runs.c.status.in_(_FINISHED_STATUSES), runs.c.outcome_posted_at.is_(None)),
        )
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(runs.c.thread_id).where(owed, self._lease_free(now)).order_by(runs.c.created_at).limit(limit)
                ).scalars()
            )

    def resumes_owed(self, now: datetime, limit: int = 500) -> list[str]:
        """Decided requests whose decision has not reached the agent, on threads nobody is working on."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(approvals.c.id)
                    .join(runs, runs.c.thread_id == approvals.c.thread_id)
                    .where(
                        approvals.c.status != Status.PENDING.value,
                        approvals.c.resumed_at.is_(None),
                        runs.c.status != RunStatus.FAILED.value,
                        self._lease_free(now),
                    )
                    .order_by(approvals.c.decided_at)
                    .limit(limit)
                ).scalars()
            )

    def other_resumes_owed(self, thread_id: str) -> list[str]:
        """Decided, not yet resumed requests of one thread (handed on when a worker lets the thread go)."""
        with self.engine.connect() as conn:
            return list(conn.execute(_OTHER_RESUMES_OWED, {"thread": thread_id}).scalars())

    def next_due(self) -> datetime | None:
        """The earliest moment something timed falls due: a pending deadline, an unsent reminder, an unposted
        escalation (due at once)."""
        with self.engine.connect() as conn:
            deadline = conn.execute(
                select(func.min(approvals.c.deadline_at)).where(approvals.c.status == Status.PENDING.value)
            ).scalar()
            reminder = conn.execute(
                select(func.min(approval_reminders.c.due_at))
                .join(approvals, approvals.c.id == approval_reminders.c.approval_id)
                .where(
                    approval_reminders.c.sent_at.is_(None),
                    approval_reminders.c.stage == approvals.c.stage,
                    approvals.c.status == Status.PENDING.value,
                )
            ).scalar()
            unposted = conn.execute(
                select(func.min(approval_escalations.c.at)).where(approval_escalations.c.message_ts.is_(None))
            ).scalar()
        moments = [m for m in (deadline, reminder, unposted) if m is not None]
        return min(moments) if moments else None

    # Approval requests

    def create_request(self, new: NewApprovalRequest) -> ApprovalRequest:
        """Store a new pending request for a run's interrupt, with its deadline and the reminders it owes."""
        approval_id = uuid.uuid4().hex
        now = utcnow()
        deadline = now + new.gate.timeout
        with self._writing() as conn:
            conn.execute(
                insert(approvals).values(
                    id=approval_id,
                    thread_id=new.thread_id,
                    interrupt_id=new.interrupt_id,
                    kind=new.kind,
                    agent_message=new.agent_message,
                    gate=new.gate.model_dump(mode="json"),
                    status=Status.PENDING.value,
                    deadline_at=deadline,
                    stage=0,
                    timeout_action=new.gate.action_at_deadline(0),
                    created_at=now,
                    allow_self_approval=new.gate.allow_self_approval,
                )
            )
            conn.execute(
                insert(approval_approvers),
                [{"approver": a, "approval_id": approval_id} for a in _listed_to([a.gate or new.gate for a in new.actions])],
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
                        "call_id": action.call_id,
                        "gate": action.gate.model_dump(mode="json") if action.gate else None,
                    }
                    for position, action in enumerate(new.actions)
                ],
            )
            self._owe_reminders(conn, approval_id, 0, deadline, new.gate.reminders, now)
            self._audit(conn, "request_created", approval_id, None, {"thread_id": new.thread_id})
        return self.get(approval_id)

    @staticmethod
    def _owe_reminders(
        conn: Connection, approval_id: str, stage: int, deadline: datetime, before: list[timedelta], now: datetime
    ) -> None:
        due = sorted({deadline - ahead for ahead in before if deadline - ahead > now})
        if due:
            conn.execute(
                insert(approval_reminders),
                [{"approval_id": approval_id, "stage": stage, "due_at": at} for at in due],
            )

    def repropose(self, approval: ApprovalRequest, position: int, args: dict[str, Any], gate: Gate, by: str) -> ApprovalRequest:
        """An edit whose arguments fall under another rule than the call's: the call now waits for that rule's
        deciders (its votes so far dropped), runs with `args` if approved, and `by` counts as its proposer.
        The request's own gate (its deadline's outcome, who lists it) is combined again and its revision
        bumped, so a click on what was shown before decides nothing; `AlreadyDecided` when the call was
        decided first."""
        gates = [gate if p == position else approval.gate_of(p) for p in range(len(approval.actions))]
        combined = request_gate(gates)
        with self._writing() as conn:
            # The request row first, as `record_decision` takes it: one lock order, so the two never deadlock.
            open_ = conn.execute(_HOLD_PENDING, {"request": approval.id}).rowcount
            if open_ and conn.execute(_REVISION, {"request": approval.id}).scalar() != approval.revision:
                raise RequestChanged(self._load(conn, [approval.id])[0])  # edited again since this editor looked
            changed = open_ and (
                conn.execute(
                    update(approval_actions)
                    .where(
                        approval_actions.c.approval_id == approval.id,
                        approval_actions.c.position == position,
                        approval_actions.c.decision_type.is_(None),
                    )
                    .values(gate=gate.model_dump(mode="json"), proposed_args=args, proposed_by=by)
                ).rowcount
            )
            if changed:
                of_the_call = (approval_votes.c.approval_id == approval.id, approval_votes.c.position == position)
                conn.execute(delete(approval_votes).where(*of_the_call))
                conn.execute(
                    update(approvals)
                    .where(approvals.c.id == approval.id)
                    .values(
                        gate=combined.model_dump(mode="json"),
                        timeout_action=combined.action_at_deadline(approval.stage),
                        allow_self_approval=combined.allow_self_approval,
                        revision=approvals.c.revision + 1,
                    )
                )
                conn.execute(delete(approval_approvers).where(approval_approvers.c.approval_id == approval.id))
                conn.execute(insert(approval_approvers), [{"approver": a, "approval_id": approval.id} for a in _listed_to(gates)])
                self._audit(conn, "reproposed", approval.id, by, {"action": position, "args": args, "rule": gate.rule})
        if not changed:
            raise AlreadyDecided(self.get(approval.id), [position])
        return self.get(approval.id)

    def set_message(self, approval_id: str, channel: str, ts: str, permalink: str | None = None) -> None:
        """Remember where the request's Slack message is (and its link), so later updates and lists find it."""
        with self._writing() as conn:
            conn.execute(_SET_MESSAGE, {"request": approval_id, "b_channel": channel, "b_ts": ts, "b_permalink": permalink})

    def request_shown(self, approval_id: str) -> None:
        """Note that a front-end showed the request to people (the first time counts)."""
        with self._writing() as conn:
            conn.execute(_SHOWN, {"request": approval_id, "now": utcnow()})

    def get(self, approval_id: str) -> ApprovalRequest:
        """One request with its actions (and their decisions) and its run."""
        with self.engine.connect() as conn:
            # Loaded even for a missing request, so `warm_up` compiles every statement of the loader.
            found = self._load(conn, [approval_id])
        if not found:
            raise ApprovalNotFound(approval_id)
        return found[0]

    def thread_of(self, approval_id: str) -> str:
        """The run (thread id) a request belongs to: one indexed read, for a job that needs nothing else yet."""
        with self.engine.connect() as conn:
            thread_id = conn.execute(_THREAD_OF, {"request": approval_id}).scalar()
        if thread_id is None:
            raise ApprovalNotFound(approval_id)
        return str(thread_id)

    def get_many(self, approval_ids: list[str]) -> list[ApprovalRequest]:
        """These requests (missing ones left out), in the order given, in at most five statements per 500."""
        with self.engine.connect() as conn:
            return self._load(conn, approval_ids)

    def _load(self, conn: Connection, approval_ids: list[str]) -> list[ApprovalRequest]:
        """Requests with their actions, votes, escalations and runs: at most one statement per table and batch,
        however many requests (a list of requests must not cost five round trips per row)."""
        loaded: dict[str, ApprovalRequest] = {}
        for start in range(0, len(approval_ids), _BATCH):
            batch = approval_ids[start : start + _BATCH]
            loaded |= self._load_batch(conn, batch)
        return [loaded[i] for i in approval_ids if i in loaded]

    def _load_batch(self, conn: Connection, ids: list[str]) -> dict[str, ApprovalRequest]:
        rows = conn.execute(_LOAD_REQUESTS, {"ids": ids}).mappings().all()
        actions: dict[str, list[RowMapping]] = {}
        for a in conn.execute(_LOAD_ACTIONS, {"ids": ids}).mappings():
            actions.setdefault(a["approval_id"], []).append(a)
        # Votes are cast only under a gate that needs more than one approver, and an escalation row is
        # written with each stage past the first: most requests have neither, and skip both statements.
        voting = [row["id"] for row in rows if (row["gate"] or {}).get("quorum", 1) > 1]
        escalated = [row["id"] for row in rows if row["stage"]]
        votes: dict[tuple[str, int], list[str]] = {}
        if voting:
            for vote in conn.execute(_LOAD_VOTES, {"ids": voting}).mappings():
                votes.setdefault((vote["approval_id"], vote["position"]), []).append(vote["user_id"])
        escalations: dict[str, list[Escalation]] = {}
        if escalated:
            for e in conn.execute(_LOAD_ESCALATIONS, {"ids": escalated}).mappings():
                escalations.setdefault(e["approval_id"], []).append(
                    Escalation(stage=e["stage"], channel=e["channel"], message_ts=e["message_ts"], at=e["at"])
                )
        threads = sorted({row["thread_id"] for row in rows})
        run_of = {r["thread_id"]: _run(r) for r in conn.execute(_LOAD_RUNS, {"ids": threads}).mappings()}
        return {
            row["id"]: ApprovalRequest(
                id=row["id"],
                thread_id=row["thread_id"],
                interrupt_id=row["interrupt_id"],
                kind=row["kind"],
                agent_message=row["agent_message"],
                gate=row["gate"],
                actions=[_action(a, votes.get((row["id"], a["position"]), [])) for a in actions.get(row["id"], [])],
                run=run_of[row["thread_id"]],
                status=row["status"],
                channel=row["channel"],
                message_ts=row["message_ts"],
                permalink=row["permalink"],
                shown_at=row["shown_at"],
                deadline_at=row["deadline_at"],
                stage=row["stage"],
                escalations=escalations.get(row["id"], []),
                decided_at=row["decided_at"],
                resumed_at=row["resumed_at"],
                delivery_started_at=row["delivery_started_at"],
                created_at=row["created_at"],
                revision=row["revision"],
            )
            for row in rows
        }

    def decide(
        self, approval_id: str, decision: Decision, positions: list[int] | None = None, quorum: int | Mapping[int, int] = 1
    ) -> Decided:
        """`record_decision`, then the request as it now stands."""
        recorded = self.record_decision(approval_id, decision, positions, quorum)
        return Decided(self.get(approval_id), *recorded)

    def record_decision(
        self,
        approval_id: str,
        decision: Decision,
        positions: list[int] | None = None,
        quorum: int | Mapping[int, int] = 1,
        revision: int | None = None,
    ) -> DecisionRecord:
        """Record `decision` on the given actions (all undecided ones when None), first decision wins.

        With a `quorum` above one (for every action, or by position), an approval is a vote: the action is
        approved once that many distinct people approved it (`AlreadyVoted` for a second vote by the same person). Raises
        `AlreadyDecided` when every targeted action was decided first. The request is complete when
        its last action is decided; exactly one caller sees `completed`, and the resume it owes is
        committed with it (decided and not resumed).
        """
        with self._writing() as conn:
            # A no-op write on the request row: it serialises deciders of one request (a row lock on
            # PostgreSQL, the write lock on SQLite) so exactly one of them sees it complete.
            open_ = conn.execute(_HOLD_PENDING, {"request": approval_id}).rowcount
            # A call changed under the decider (an edit re-proposed it) after they were checked.
            if open_ and revision is not None and conn.execute(_REVISION, {"request": approval_id}).scalar() != revision:
                raise RequestChanged(self._load(conn, [approval_id])[0])
            won: list[int] = []
            completed = False
            if open_:
                if positions is None:
                    undecided = conn.execute(_UNDECIDED, {"request": approval_id})
                else:
                    undecided = conn.execute(_UNDECIDED_OF, {"request": approval_id, "positions": positions})
                won = list(undecided.scalars())
            voted: list[int] = []
            quorums = quorum if isinstance(quorum, Mapping) else dict.fromkeys(won, quorum)
            counted = [p for p in won if quorums.get(p, 1) > 1] if decision.type is DecisionType.APPROVE else []
            if counted:
                voted, reached = self._vote(conn, approval_id, decision, counted, quorums)
                won = [p for p in won if p not in counted or p in reached]
            if won:
                conn.execute(
                    _DECIDE_ACTIONS,
                    {
                        "request": approval_id,
                        "positions": won,
                        "type": decision.type.value,
                        "by": decision.decided_by,
                        "at": decision.decided_at,
                        "edited": decision.edited_args,
                        "message": decision.message,
                    },
                )
                self._audit(
                    conn,
                    "decided",
                    approval_id,
                    decision.decided_by,
                    {"actions": won, **decision.model_dump(mode="json", exclude={"decided_by", "decided_at"})},
                )
                kinds = conn.execute(_DECISION_KINDS, {"request": approval_id}).scalars().all()
                completed = None not in kinds
                if completed:
                    status = Status.summarising([DecisionType(k) for k in kinds]).value
                    conn.execute(_COMPLETE, {"request": approval_id, "summary": status, "when": utcnow()})
        if not won and not voted:
            current = self.get(approval_id)
            if open_ and counted:
                raise AlreadyVoted(current, decision.decided_by)
            raise AlreadyDecided(current, positions)
        # Not read back here: the bot acks a click right after this, and reads the request once it has.
        return DecisionRecord(positions=won, completed=completed, voted=voted)

    def _vote(
        self, conn: Connection, approval_id: str, decision: Decision, positions: list[int], quorums: Mapping[int, int]
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
            self._audit(conn, "voted", approval_id, voter, {"actions": new, "quorum": max(quorums[p] for p in new)})
        reached = []
        for position in new:
            votes = (
                conn.execute(
                    select(approval_votes.c.user_id).where(
                        approval_votes.c.approval_id == approval_id, approval_votes.c.position == position
                    )
                )
                .scalars()
                .all()
            )
            if len(votes) >= quorums[position]:
                reached.append(position)
        return [p for p in new if p not in reached], reached

    # Handing decisions to agents

    def start_delivery(self, approval: ApprovalRequest) -> None:
        """Note that a worker is handing the decision to the agent (kept if an earlier attempt set it)."""
        now = utcnow()
        with self._writing() as conn:
            conn.execute(_START_DELIVERY, {"request": approval.id, "now": now})
            conn.execute(_RUN_RUNNING, {"thread": approval.thread_id, "now": now})

    def mark_resumed(self, approval: ApprovalRequest, *, run_continues: bool = True) -> None:
        """The decision reached the agent (its checkpoint moved past the interrupt): nothing more is owed for it."""
        now = utcnow()
        with self._writing() as conn:
            conn.execute(_RESUMED, {"request": approval.id, "now": now})
            conn.execute(_RUN_GOES_ON if run_continues else _RUN_PROGRESSED_AT, {"thread": approval.thread_id, "now": now})

    # Deadlines, escalations and reminders

    def expire_due(self, now: datetime, by: str) -> list[str]:
        """Apply every due deadline whose outcome is reject or approve, in one transaction; returns the
        ids of the requests it completed (first decision wins: a request decided meanwhile is skipped)."""
        is_due = (
            approvals.c.status == Status.PENDING.value,
            approvals.c.deadline_at <= now,
            approvals.c.timeout_action.in_(["reject", "approve"]),
        )
        with self._writing() as conn:
            # Write first, as `decide` does: it locks the due rows (PostgreSQL) or the database (SQLite)
            # before anything is read, so a racing click and this deadline serialise; first one wins.
            conn.execute(update(approvals).where(*is_due).values(status=Status.PENDING.value))
            due = conn.execute(select(approvals.c.id, approvals.c.timeout_action, approvals.c.deadline_at).where(*is_due)).all()
            outcome = {row.id: row.timeout_action for row in due}
            undecided = (
                conn.execute(
                    select(
                        approval_actions.c.approval_id, approval_actions.c.position, approval_actions.c.allowed_decisions
                    ).where(approval_actions.c.approval_id.in_(list(outcome)), approval_actions.c.decision_type.is_(None))
                ).all()
                if due
                else []
            )
            said_no: set[str] = set()
            for row in undecided:
                kind, message = deadline_decision(outcome[row.approval_id], [DecisionType(d) for d in row.allowed_decisions])
                if kind is not DecisionType.APPROVE:
                    said_no.add(row.approval_id)
                ran = _APPROVED_AS_RUN if kind is DecisionType.APPROVE else {"decision_type": kind.value}
                conn.execute(
                    update(approval_actions)
                    .where(approval_actions.c.approval_id == row.approval_id, approval_actions.c.position == row.position)
                    .values(**ran, decided_by=by, decided_at=now, decision_message=message)
                )
            for approval_id in outcome:
                status = Status.EXPIRED if approval_id in said_no or outcome[approval_id] == "reject" else Status.APPROVED
                conn.execute(
                    update(approvals)
                    .where(approvals.c.id == approval_id, approvals.c.status == Status.PENDING.value)
                    .values(status=status.value, decided_at=now)
                )
            append_audit(
                conn,
                [
                    AuditEntry(
                        "deadline", row.id, by, {"outcome": row.timeout_action, "deadline_at": row.deadline_at.isoformat()}, now
                    )
                    for row in due
                ],
            )
        return [row.id for row in due]

    def escalate_due(self, now: datetime) -> list[Escalated]:
        """Move every pending request whose deadline escalates it to its next stage, in one transaction;
        each gets a new deadline and an escalation row still to be posted."""
        is_due = (
            approvals.c.status == Status.PENDING.value,
            approvals.c.deadline_at <= now,
            approvals.c.timeout_action == "escalate",
        )
        moved: list[Escalated] = []
        with self._writing() as conn:
            conn.execute(update(approvals).where(*is_due).values(status=Status.PENDING.value))
            for row in conn.execute(select(approvals.c.id, approvals.c.stage, approvals.c.gate).where(*is_due)).all():
                gate = Gate.model_validate(row.gate)
                stage = row.stage + 1
                channel = gate.escalation[stage - 1].channel
                deadline = now + gate.timeout_of(stage)
                conn.execute(
                    update(approvals)
                    .where(approvals.c.id == row.id)
                    .values(stage=stage, deadline_at=deadline, timeout_action=gate.action_at_deadline(stage))
                )
                conn.execute(insert(approval_escalations).values(approval_id=row.id, stage=stage, channel=channel, at=now))
                self._owe_reminders(conn, row.id, stage, deadline, gate.reminders, now)
                self._audit(conn, "escalated", row.id, None, {"stage": stage, "channel": channel})
                moved.append(Escalated(row.id, stage, channel))
        return moved

    def unposted_escalations(self) -> list[Escalated]:
        """Escalations decided in SQL whose message is not in Slack yet (this attempt's, or a dead one's)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(approval_escalations.c.approval_id, approval_escalations.c.stage, approval_escalations.c.channel)
                .where(approval_escalations.c.message_ts.is_(None))
                .order_by(approval_escalations.c.at)
            ).all()
        return [Escalated(row.approval_id, row.stage, row.channel) for row in rows]

    def set_escalation_message(self, approval_id: str, stage: int, ts: str) -> None:
        """Remember the message an escalation posted, so decisions update it too."""
        with self._writing() as conn:
            conn.execute(
                update(approval_escalations)
                .where(approval_escalations.c.approval_id == approval_id, approval_escalations.c.stage == stage)
                .values(message_ts=ts)
            )

    def reminders_due(self, now: datetime) -> list[tuple[str, int, datetime]]:
        """(request id, stage, due) of unsent reminders that fell due, for requests still pending at that stage."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(approval_reminders.c.approval_id, approval_reminders.c.stage, approval_reminders.c.due_at)
                .join(approvals, approvals.c.id == approval_reminders.c.approval_id)
                .where(
                    approval_reminders.c.sent_at.is_(None),
                    approval_reminders.c.due_at <= now,
                    approval_reminders.c.stage == approvals.c.stage,
                    approvals.c.status == Status.PENDING.value,
                )
                .order_by(approval_reminders.c.due_at)
            ).all()
        return [(row.approval_id, row.stage, row.due_at) for row in rows]

    def reminder_sent(self, approval_id: str, stage: int, due_at: datetime) -> None:
        """A reminder is in Slack: it is not owed any more."""
        with self._writing() as conn:
            conn.execute(
                update(approval_reminders)
                .where(
                    approval_reminders.c.approval_id == approval_id,
                    approval_reminders.c.stage == stage,
                    approval_reminders.c.due_at == due_at,
                )
                .values(sent_at=utcnow())
            )

    # Reading requests

    _posted_pending = (approvals.c.status == Status.PENDING.value, approvals.c.message_ts.is_not(None))

    def pending(self, limit: int = 50, offset: int = 0) -> list[ApprovalRequest]:
        """Requests still waiting for a decision (posted ones), the oldest deadline first."""
        return self.pending_page(limit, offset).requests

    def pending_page(self, limit: int = 50, offset: int = 0) -> Page:
        """One page of `pending`, and how many requests wait in all."""
        order = (approvals.c.deadline_at, approvals.c.created_at, approvals.c.id)
        with self.engine.connect() as conn:
            total = self._capped_count(conn, select(approvals.c.id).where(*self._posted_pending), offset + limit)
            ids = list(
                conn.execute(
                    select(approvals.c.id).where(*self._posted_pending).order_by(*order).limit(limit).offset(offset)
                ).scalars()
            )
            return Page(self._load(conn, ids), *total)

    def pending_for(
        self, user_id: str, groups: list[str], limit: int = 50, offset: int = 0, *, channels: list[str] | None = None
    ) -> Page:
        """One page of the pending requests `user_id` may decide, the oldest deadline first, and how many
        there are: a call's approvers (`groups` are the approver entries whose groups hold the user), or, for
        a call without approvers, the members of its rule's own channel or of the channels the request is
        shown in (`channels` are those that hold the user), and the four-eyes rule, applied in SQL before
        the LIMIT."""
        # A call's own channel (`#C…`) lists the request to that channel's members.
        named = [user_id, *groups, *(CHANNEL_MEMBERS + channel for channel in channels or [])]
        approver: ColumnElement[bool] = exists().where(
            approval_approvers.c.approval_id == approvals.c.id, approval_approvers.c.approver.in_(named)
        )
        if channels:
            of_this = approval_approvers.c.approval_id == approvals.c.id
            anyone = exists().where(of_this, approval_approvers.c.approver == ANYONE)
            by_members = exists().where(of_this, _DECIDED_BY_MEMBERS)
            escalated_to = exists().where(
                approval_escalations.c.approval_id == approvals.c.id, approval_escalations.c.channel.in_(channels)
            )
            # `*`: the channel it was posted in; any call decided by channel members: the channels it was escalated to.
            approver = or_(approver, and_(anyone, approvals.c.channel.in_(channels)), and_(by_members, escalated_to))
        may_decide = (
            *self._posted_pending,
            approver,
            or_(approvals.c.allow_self_approval, runs.c.requested_by.is_(None), runs.c.requested_by != user_id),
        )
        joined = approvals.join(runs, runs.c.thread_id == approvals.c.thread_id)
        order = (approvals.c.deadline_at, approvals.c.created_at, approvals.c.id)
        with self.engine.connect() as conn:
            total = self._capped_count(conn, select(approvals.c.id).select_from(joined).where(*may_decide), offset + limit)
            ids = list(
                conn.execute(
                    select(approvals.c.id).select_from(joined).where(*may_decide).order_by(*order).limit(limit).offset(offset)
                ).scalars()
            )
            return Page(self._load(conn, ids), *total)

    @staticmethod
    def _capped_count(conn: Connection, query: Any, shown: int) -> tuple[int, bool]:
        """How many rows `query` has, counted up to COUNT_CAP past what is shown; (count, whether it stopped there)."""
        cap = shown + COUNT_CAP
        counted = conn.execute(select(func.count()).select_from(query.limit(cap + 1).subquery())).scalar_one()
        return min(counted, cap), counted > cap

    def pending_group_approvers(self) -> list[str]:
        """The user groups (`@handle`, `S…`) named as approvers of pending requests: those whose members
        the caller resolves before asking `pending_for`."""
        is_group = or_(approval_approvers.c.approver.like("@%"), approval_approvers.c.approver.like("S%"))
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(approval_approvers.c.approver)
                    .distinct()
                    .join(approvals, approvals.c.id == approval_approvers.c.approval_id)
                    .where(is_group, approvals.c.status == Status.PENDING.value)
                    .order_by(approval_approvers.c.approver)
                ).scalars()
            )

    def pending_member_channels(self) -> list[str]:
        """Channels whose members may decide some call of a pending request without approvers: those its
        requests are posted or escalated in, and the rules' own channels. The caller resolves their members
        before asking `pending_for`, which keeps only the requests they decide; so a few channels more than
        needed cost a cached membership look-up, never a wrong listing."""
        with self.engine.connect() as conn:
            # A channel at a time along an index (a loose index scan): as cheap at 10,000 pending as at 100.
            posted = self._distinct_after(conn, approvals.c.channel, approvals.c.status == Status.PENDING.value)
            # The approvers' key, `#C…` entries: of pending requests and of decided ones alike (it is not worth a
            # join to tell them apart; their channels are few).
            own_range = approval_approvers.c.approver < chr(ord(CHANNEL_MEMBERS) + 1)
            own = self._distinct_after(conn, approval_approvers.c.approver, own_range, start=CHANNEL_MEMBERS)
            escalated = conn.execute(
                select(approval_escalations.c.channel)
                .distinct()
                .join(approvals, approvals.c.id == approval_escalations.c.approval_id)
                .where(approvals.c.status == Status.PENDING.value)
            ).scalars()
            channels = {*posted, *escalated, *(entry.removeprefix(CHANNEL_MEMBERS) for entry in own)}
        return sorted(channels)

    @staticmethod
    def _distinct_after(conn: Connection, column: Any, where: ColumnElement[bool], start: str = "") -> list[str]:
        """The distinct values of `column` above `start` where `where` holds, one indexed MIN at a time."""
        found: list[str] = []
        last = start
        while (value := conn.execute(select(func.min(column)).where(where, column > last)).scalar()) is not None:
            found.append(value)
            last = value
        return found

    def pending_summary(self) -> tuple[int, datetime | None]:
        """How many requests wait for a decision, and when the oldest of them was created."""
        with self.engine.connect() as conn:
            count, oldest = conn.execute(
                select(func.count(), func.min(approvals.c.created_at)).where(approvals.c.status == Status.PENDING.value)
            ).one()
        return count, oldest

    def statuses(self, approval_ids: list[str]) -> dict[str, Status]:
        """The status of each of these requests (one query, for counting what a batch of deadlines did)."""
        if not approval_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(approvals.c.id, approvals.c.status).where(approvals.c.id.in_(approval_ids))).all()
        return {row.id: Status(row.status) for row in rows}

    def requests_for_thread(self, thread_id: str) -> list[ApprovalRequest]:
        """Every request of a run, oldest first."""
        with self.engine.connect() as conn:
            return self._load(conn, list(conn.execute(_REQUESTS_OF_THREAD, {"thread": thread_id}).scalars()))

    def decided_before(self, approval: ApprovalRequest, limit: int = EARLIER_STEPS) -> Page:
        """The run's last `limit` decided requests from before this one, oldest first, and how many there
        are (the "earlier steps" of its message): a bounded read however long the run."""
        before = {"thread": approval.thread_id, "b_created": approval.created_at, "request": approval.id}
        with self.engine.connect() as conn:
            ids = list(conn.execute(_DECIDED_BEFORE, {**before, "b_limit": limit}).scalars())
            if not ids:
                # A run's first step (most requests): one statement, not seven.
                return Page([], 0)
            total = len(ids)
            if total == limit:
                total = conn.execute(_COUNT_DECIDED_BEFORE, before).scalar_one()
            return Page(self._load(conn, ids[::-1]), total)

    def has_requests(self, thread_id: str) -> bool:
        """True once the run has asked for any approval."""
        with self.engine.connect() as conn:
            return bool(conn.execute(select(exists().where(approvals.c.thread_id == thread_id))).scalar())

    # The tool-call journal (at most once, even across a worker's death)

    def tool_call(self, thread_id: str, task: str, tool_call_id: str) -> ToolCallRecord | None:
        """The journal entry of one call of one task, if it was ever started."""
        with self.engine.connect() as conn:
            row = conn.execute(_TOOL_CALL, {"thread": thread_id, "b_task": task, "b_call": tool_call_id}).first()
        return None if row is None else ToolCallRecord(row.tool, row.finished_at is not None, row.result)

    def tool_call_started(self, thread_id: str, task: str, tool_call_id: str, tool: str) -> bool:
        """Journal that a call is about to run; False if it was already journalled (by an earlier attempt)."""
        try:
            with self._writing() as conn:
                conn.execute(
                    _TOOL_CALL_STARTED,
                    {"thread_id": thread_id, "task": task, "tool_call_id": tool_call_id, "tool": tool, "started_at": utcnow()},
                )
        except IntegrityError:
            return False
        return True

    def tool_call_finished(self, thread_id: str, task: str, tool_call_id: str, result: dict[str, Any] | None) -> None:
        """Journal what a call returned, to replay instead of running it again."""
        with self._writing() as conn:
            conn.execute(
                _TOOL_CALL_FINISHED,
                {"thread": thread_id, "b_task": task, "b_call": tool_call_id, "now": utcnow(), "b_result": result},
            )

    def tool_call_forgotten(self, thread_id: str, task: str, tool_call_id: str) -> None:
        """Drop a journal entry: the call paused (an interrupt inside the tool) before doing anything."""
        with self._writing() as conn:
            conn.execute(
                delete(tool_calls).where(
                    tool_calls.c.thread_id == thread_id, tool_calls.c.task == task, tool_calls.c.tool_call_id == tool_call_id
                )
            )

    def tool_call_uncertain(self, thread_id: str, task: str, tool_call_id: str, tool: str) -> None:
        """A re-run found the call started and never finished: it is not run again; keep that on record."""
        with self._writing() as conn:
            conn.execute(
                update(tool_calls)
                .where(tool_calls.c.thread_id == thread_id, tool_calls.c.task == task, tool_calls.c.tool_call_id == tool_call_id)
                .values(uncertain_at=utcnow())
            )
            self._audit(
                conn, "tool_call_uncertain", None, None, {"thread_id": thread_id, "tool": tool, "tool_call_id": tool_call_id}
            )

    # Audit log

    def audit(self, event: str, approval_id: str | None, actor: str | None, detail: dict[str, Any]) -> None:
        """Append one row to the audit log."""
        with self._writing() as conn:
            self._audit(conn, event, approval_id, actor, detail)

    def audit_events(self, approval_id: str | None = None) -> list[AuditEvent]:
        """The audit log, oldest first, optionally for one request."""
        query = select(audit_log).order_by(audit_log.c.id)
        if approval_id is not None:
            query = query.where(audit_log.c.approval_id == approval_id)
        with self.engine.connect() as conn:
            return [AuditEvent(**row) for row in conn.execute(query).mappings()]

    @staticmethod
    def _audit(conn: Connection, event: str, approval_id: str | None, actor: str | None, detail: dict[str, Any]) -> None:
        append_audit(conn, [AuditEntry(event, approval_id, actor, detail)])

    @contextmanager
    def _connect(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.engine.connect() as own:
                yield own
