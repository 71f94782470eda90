"""Approval requests: creating and re-proposing them, loading them whole, where their Slack message is, and
handing their decision to the agent (`approvals.store.decisions` records the decisions themselves)."""

from __future__ import annotations

import uuid
from contextlib import suppress
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, delete, exists, insert, select, update
from sqlalchemy.sql.elements import BindParameter

from approvals.errors import AlreadyDecided, ApprovalNotFound, HandoverRefused, RequestChanged
from approvals.gates import request_gate
from approvals.models import (
    ApprovalRequest,
    Decision,
    Escalation,
    Gate,
    NewApprovalRequest,
    ProposedAction,
    Remembered,
    RunStatus,
    Status,
    utcnow,
)
from approvals.store.audit_log import record_audit
from approvals.store.database import Database, WarmedSection
from approvals.store.due import owe_reminders
from approvals.store.remembered import remembered_of
from approvals.store.runs import run_from_row
from approvals.tables import (
    ANYONE,
    CHANNEL_MEMBERS,
    approval_actions,
    approval_approvers,
    approval_escalations,
    approval_handovers,
    approval_votes,
    approvals,
    runs,
)

# Ids per IN (...) when loading requests in batches: well under every database's limit on parameters.
_BATCH = 500

# The loader's statements, built once: building statements and their cache keys on every call costs about a
# fifth of the bot's CPU when it handles clicks, and a click loads its request twice.
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
# Whether a request was handed to anyone, read with the request: most never are, and skip reading the hand-overs.
_HANDED = exists().where(approval_handovers.c.approval_id == approvals.c.id).label("handed")
_LOAD_REQUESTS = select(approvals, _HANDED).where(approvals.c.id.in_(_IDS))
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
_LOAD_HANDOVERS = select(approval_handovers).where(approval_handovers.c.approval_id.in_(_IDS)).order_by(approval_handovers.c.at)
_LOAD_RUNS = select(runs).where(runs.c.thread_id.in_(_IDS))


def _action(row: RowMapping, votes: list[RowMapping], remembered: dict[tuple[str, int], Remembered]) -> ProposedAction:
    decision = None
    if row["decision_type"] is not None:
        decision = Decision(
            type=row["decision_type"],
            decided_by=row["decided_by"],
            decided_at=row["decided_at"],
            edited_args=row["edited_args"],
            message=row["decision_message"],
            for_user=row["decided_for"],
        )
    return ProposedAction(
        tool=row["tool"],
        args=row["args"],
        description=row["description"],
        allowed_decisions=row["allowed_decisions"],
        args_schema=row["args_schema"],
        decision=decision,
        votes=[vote["user_id"] for vote in votes],
        votes_for={vote["user_id"]: vote["for_user"] for vote in votes if vote["for_user"]},
        result=row["result"],
        call_id=row["call_id"],
        gate=row["gate"],
        proposed_args=row["proposed_args"],
        proposed_by=row["proposed_by"],
        remembered=remembered.get((row["approval_id"], row["position"])),
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


def load_requests(conn: Connection, approval_ids: list[str]) -> list[ApprovalRequest]:
    """Requests with their actions, votes, escalations and runs: at most one statement per table and batch,
    however many requests (a list of requests must not cost five round trips per row)."""
    loaded: dict[str, ApprovalRequest] = {}
    for start in range(0, len(approval_ids), _BATCH):
        batch = approval_ids[start : start + _BATCH]
        loaded |= _load_batch(conn, batch)
    return [loaded[i] for i in approval_ids if i in loaded]


# The request's own columns, read as they are; its actions, run and escalations come from other tables.
_REQUEST_COLUMNS = (
    "id",
    "thread_id",
    "interrupt_id",
    "kind",
    "agent_message",
    "link",
    "gate",
    "status",
    "channel",
    "shown_at",
    "deadline_at",
    "stage",
    "decided_at",
    "resumed_at",
    "delivery_started_at",
    "created_at",
    "revision",
)


def _load_batch(conn: Connection, ids: list[str]) -> dict[str, ApprovalRequest]:
    rows = conn.execute(_LOAD_REQUESTS, {"ids": ids}).mappings().all()
    actions: dict[str, list[RowMapping]] = {}
    for a in conn.execute(_LOAD_ACTIONS, {"ids": ids}).mappings():
        actions.setdefault(a["approval_id"], []).append(a)
    # Votes are cast only under a gate that needs more than one approver, and an escalation row is
    # written with each stage past the first: most requests have neither, and skip both statements.
    voting = [row["id"] for row in rows if (row["gate"] or {}).get("quorum", 1) > 1]
    escalated = [row["id"] for row in rows if row["stage"]]
    votes: dict[tuple[str, int], list[RowMapping]] = {}
    if voting:
        for vote in conn.execute(_LOAD_VOTES, {"ids": voting}).mappings():
            votes.setdefault((vote["approval_id"], vote["position"]), []).append(vote)
    handed = [row["id"] for row in rows if row["handed"]]
    handovers: dict[str, dict[str, str]] = {}
    handed_rules: dict[str, dict[str, list[str]]] = {}
    if handed:
        for h in conn.execute(_LOAD_HANDOVERS, {"ids": handed}).mappings():
            handovers.setdefault(h["approval_id"], {})[h["user_id"]] = h["asked_by"]
            handed_rules.setdefault(h["approval_id"], {})[h["user_id"]] = list(h["rules"])
    escalations: dict[str, list[Escalation]] = {}
    if escalated:
        for e in conn.execute(_LOAD_ESCALATIONS, {"ids": escalated}).mappings():
            escalations.setdefault(e["approval_id"], []).append(
                Escalation(stage=e["stage"], channel=e["channel"], at=e["at"], shown_at=e["shown_at"])
            )
    # Only an approved call whose rule remembers can cover later ones: most requests skip the statement.
    remembering = {i for i, calls in actions.items() for a in calls if a["decision_type"] and _remembers(a["gate"])}
    remembered = remembered_of(conn, sorted(remembering))
    threads = sorted({row["thread_id"] for row in rows})
    run_of = {r["thread_id"]: run_from_row(r) for r in conn.execute(_LOAD_RUNS, {"ids": threads}).mappings()}
    return {
        row["id"]: ApprovalRequest(
            **{column: row[column] for column in _REQUEST_COLUMNS},
            actions=[_action(a, votes.get((row["id"], a["position"]), []), remembered) for a in actions.get(row["id"], [])],
            run=run_of[row["thread_id"]],
            escalations=escalations.get(row["id"], []),
            handed_to=list(handovers.get(row["id"], {})),
            handed_by=handovers.get(row["id"], {}),
            handed_rules=handed_rules.get(row["id"], {}),
        )
        for row in rows
    }


def _remembers(gate: dict[str, Any] | None) -> bool:
    return bool((gate or {}).get("remember", "off") != "off")


def read_request(db: Database, approval_id: str) -> ApprovalRequest:
    """One request, read on a connection of its own; `ApprovalNotFound` when there is none."""
    with db.engine.connect() as conn:
        # Loaded even for a missing request, so `warm_up` compiles every statement of the loader.
        found = load_requests(conn, [approval_id])
    if not found:
        raise ApprovalNotFound(approval_id)
    return found[0]


# Writing a request and reading its thread, built once as the loader's statements are.
_ID: BindParameter[str] = bindparam("request")
_THREAD: BindParameter[str] = bindparam("thread")
_NOW: BindParameter[datetime] = bindparam("now")
_SET_CHANNEL = update(approvals).where(approvals.c.id == _ID).values(channel=bindparam("b_channel"))
_SHOWN = update(approvals).where(approvals.c.id == _ID, approvals.c.shown_at.is_(None)).values(shown_at=_NOW)
_THREAD_OF = select(approvals.c.thread_id).where(approvals.c.id == _ID)
# Taken first by whoever changes a request's calls (a decision, a re-proposal): a no-op write on the request row,
# so they serialise on it in one lock order and never deadlock.
HOLD_PENDING = (
    update(approvals).where(approvals.c.id == _ID, approvals.c.status == Status.PENDING.value).values(status=Status.PENDING.value)
)
REVISION = select(approvals.c.revision).where(approvals.c.id == _ID)
# Handing a decision to its agent: the request's delivery and its run's progress, in one transaction.
_START_DELIVERY = (
    update(approvals).where(approvals.c.id == _ID, approvals.c.delivery_started_at.is_(None)).values(delivery_started_at=_NOW)
)
_RESUMED = update(approvals).where(approvals.c.id == _ID).values(resumed_at=_NOW)
# A stopped run stays ended: a delivery that raced its stop does not set it running again.
_RUN_RUNNING = (
    update(runs)
    .where(runs.c.thread_id == _THREAD, runs.c.stop_requested_at.is_(None))
    .values(status=RunStatus.RUNNING.value, updated_at=_NOW)
)
_RUN_PROGRESSED_AT = update(runs).where(runs.c.thread_id == _THREAD).values(attempts=0, next_attempt_at=None, updated_at=_NOW)
_RUN_GOES_ON = _RUN_PROGRESSED_AT.where(runs.c.stop_requested_at.is_(None)).values(status=RunStatus.RUNNING.value)


class Requests(WarmedSection):
    """Approval requests: stored, re-proposed, loaded, shown and delivered."""

    def _warm_up(self) -> None:
        with suppress(ApprovalNotFound):
            self.thread_of("")
        with suppress(ApprovalNotFound):
            self.get("")

    def set_channel(self, approval_id: str, channel: str, conn: Connection | None = None) -> None:
        """The channel the request is shown in: its members decide the calls whose rules name no approvers."""
        with self.db.writing(conn) as writing:
            writing.execute(_SET_CHANNEL, {"request": approval_id, "b_channel": channel})

    def request_shown(self, approval_id: str) -> None:
        """Note that a front-end showed the request to people (the first time counts)."""
        with self.db.writing() as conn:
            conn.execute(_SHOWN, {"request": approval_id, "now": utcnow()})

    def get(self, approval_id: str) -> ApprovalRequest:
        """One request with its actions (and their decisions) and its run."""
        return read_request(self.db, approval_id)

    def thread_of(self, approval_id: str) -> str:
        """The run (thread id) a request belongs to: one indexed read, for a job that needs nothing else yet."""
        with self.db.engine.connect() as conn:
            thread_id = conn.execute(_THREAD_OF, {"request": approval_id}).scalar()
        if thread_id is None:
            raise ApprovalNotFound(approval_id)
        return str(thread_id)

    def get_many(self, approval_ids: list[str]) -> list[ApprovalRequest]:
        """These requests (missing ones left out), in the order given, in at most five statements per 500."""
        with self.db.engine.connect() as conn:
            return load_requests(conn, approval_ids)

    # Handing decisions to agents

    def start_delivery(self, approval: ApprovalRequest) -> None:
        """Note that a worker is handing the decision to the agent (kept if an earlier attempt set it)."""
        now = utcnow()
        with self.db.writing() as conn:
            conn.execute(_START_DELIVERY, {"request": approval.id, "now": now})
            conn.execute(_RUN_RUNNING, {"thread": approval.thread_id, "now": now})

    def mark_resumed(self, approval: ApprovalRequest, *, run_continues: bool = True) -> None:
        """The decision reached the agent (its checkpoint moved past the interrupt): nothing more is owed for it."""
        now = utcnow()
        with self.db.writing() as conn:
            conn.execute(_RESUMED, {"request": approval.id, "now": now})
            conn.execute(_RUN_GOES_ON if run_continues else _RUN_PROGRESSED_AT, {"thread": approval.thread_id, "now": now})

    def create_request(self, new: NewApprovalRequest, approval_id: str | None = None) -> ApprovalRequest:
        """Store a new pending request for a run's interrupt, with its deadline and the reminders it owes
        (under `approval_id` when the caller chose it)."""
        approval_id = approval_id or uuid.uuid4().hex
        now = utcnow()
        deadline = now + new.gate.timeout
        with self.db.writing() as conn:
            conn.execute(
                insert(approvals).values(
                    id=approval_id,
                    thread_id=new.thread_id,
                    interrupt_id=new.interrupt_id,
                    kind=new.kind,
                    agent_message=new.agent_message,
                    link=new.link,
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
            owe_reminders(conn, approval_id, 0, deadline, new.gate.reminders, now)
            record_audit(conn, "request_created", approval_id, None, {"thread_id": new.thread_id})
        return self.get(approval_id)

    def repropose(self, approval: ApprovalRequest, position: int, args: dict[str, Any], gate: Gate, by: str) -> ApprovalRequest:
        """An edit whose arguments fall under another rule than the call's: the call now waits for that rule's
        deciders (its votes so far dropped), runs with `args` if approved, and `by` counts as its proposer.
        The request's own gate (its deadline's outcome, who lists it) is combined again and its revision
        bumped, so a click on what was shown before decides nothing; `AlreadyDecided` when the call was
        decided first."""
        gates = [gate if p == position else approval.gate_of(p) for p in range(len(approval.actions))]
        combined = request_gate(gates)
        with self.db.writing() as conn:
            # The request row first, as `record_decision` takes it: one lock order, so the two never deadlock.
            open_ = conn.execute(HOLD_PENDING, {"request": approval.id}).rowcount
            if open_ and conn.execute(REVISION, {"request": approval.id}).scalar() != approval.revision:
                raise RequestChanged(load_requests(conn, [approval.id])[0])  # edited again since this editor looked
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
                # The people it was handed to still find it listed (they decide its calls under the rules it was
                # handed over under; the re-proposed call waits for its new rule's deciders).
                handed = conn.execute(select(approval_handovers.c.user_id).where(approval_handovers.c.approval_id == approval.id))
                listed = dict.fromkeys([*_listed_to(gates), *handed.scalars()])
                conn.execute(insert(approval_approvers), [{"approver": a, "approval_id": approval.id} for a in listed])
                record_audit(conn, "reproposed", approval.id, by, {"action": position, "args": args, "rule": gate.rule})
        if not changed:
            raise AlreadyDecided(self.get(approval.id), [position])
        return self.get(approval.id)

    def hand_to(self, approval_id: str, to: str, by: str, at: datetime, rules: list[str]) -> None:
        """`to` may decide the request from now on, as `by` asked ("Ask someone else…"): listed for them, with its
        audit row, in one transaction; `AlreadyDecided` when it no longer waits, `HandoverRefused` when `to` was
        asked already."""
        with self.db.writing() as conn:
            # The request row first, as deciding takes it: a hand-over and a decision never cross.
            if not conn.execute(HOLD_PENDING, {"request": approval_id}).rowcount:
                raise AlreadyDecided(load_requests(conn, [approval_id])[0])
            of_it = (approval_handovers.c.approval_id == approval_id, approval_handovers.c.user_id == to)
            if conn.execute(select(exists().where(*of_it))).scalar():
                raise HandoverRefused(load_requests(conn, [approval_id])[0], "already_asked", to)
            conn.execute(insert(approval_handovers).values(approval_id=approval_id, user_id=to, asked_by=by, at=at, rules=rules))
            listed = (approval_approvers.c.approval_id == approval_id, approval_approvers.c.approver == to)
            if not conn.execute(select(exists().where(*listed))).scalar():
                conn.execute(insert(approval_approvers).values(approval_id=approval_id, approver=to))
            record_audit(conn, "handed_over", approval_id, by, {"to": to, "rules": rules})
