"""Reads for the lists people see (App Home, `/countersign pending`, a request's earlier steps): pages of
requests, who may decide them, and counts that stay bounded however long the backlog."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, and_, bindparam, exists, func, or_, select
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from approvals.models import ApprovalRequest, Page, Status
from approvals.store.database import Database
from approvals.store.requests import load_requests
from approvals.tables import ANYONE, CHANNEL_MEMBERS, approval_approvers, approval_escalations, approvals, runs

# Pending lists count this far past the page and no further ("100+ more"): the count must not grow with the
# backlog, or `/countersign pending` slows down as requests pile up.
COUNT_CAP = 100
# "Earlier steps" a run's request message shows: the last few decided, not the whole history.
EARLIER_STEPS = 10

_ID: BindParameter[str] = bindparam("request")
_THREAD: BindParameter[str] = bindparam("thread")
_POSTED_PENDING = (approvals.c.status == Status.PENDING.value, approvals.c.shown_at.is_not(None))
# An approvers' entry of a call decided by channel members: those of the request's channels, or of its rule's own.
# (A range, not LIKE: SQLite's LIKE ignores case, so it cannot use the approvers' key.)
_OWN_CHANNEL = and_(
    approval_approvers.c.approver >= CHANNEL_MEMBERS, approval_approvers.c.approver < chr(ord(CHANNEL_MEMBERS) + 1)
)
_DECIDED_BY_MEMBERS = or_(approval_approvers.c.approver == ANYONE, _OWN_CHANNEL)
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


def _capped_count(conn: Connection, query: Any, shown: int) -> tuple[int, bool]:
    """How many rows `query` has, counted up to COUNT_CAP past what is shown; (count, whether it stopped there)."""
    cap = shown + COUNT_CAP
    counted = conn.execute(select(func.count()).select_from(query.limit(cap + 1).subquery())).scalar_one()
    return min(counted, cap), counted > cap


def _distinct_after(conn: Connection, column: Any, where: ColumnElement[bool], start: str = "") -> list[str]:
    """The distinct values of `column` above `start` where `where` holds, one indexed MIN at a time."""
    found: list[str] = []
    last = start
    while (value := conn.execute(select(func.min(column)).where(where, column > last)).scalar()) is not None:
        found.append(value)
        last = value
    return found


class Lists:
    """Pages and counts of requests, for App Home, the slash command and a request's earlier steps."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def pending(self, limit: int = 50, offset: int = 0) -> list[ApprovalRequest]:
        """Requests still waiting for a decision (posted ones), the oldest deadline first."""
        return self.pending_page(limit, offset).requests

    def pending_page(self, limit: int = 50, offset: int = 0) -> Page:
        """One page of `pending`, and how many requests wait in all."""
        order = (approvals.c.deadline_at, approvals.c.created_at, approvals.c.id)
        with self.db.engine.connect() as conn:
            total = _capped_count(conn, select(approvals.c.id).where(*_POSTED_PENDING), offset + limit)
            ids = list(
                conn.execute(
                    select(approvals.c.id).where(*_POSTED_PENDING).order_by(*order).limit(limit).offset(offset)
                ).scalars()
            )
            return Page(load_requests(conn, ids), *total)

    def pending_for(
        self,
        user_id: str,
        groups: list[str],
        limit: int = 50,
        offset: int = 0,
        *,
        channels: list[str] | None = None,
        standing_in: Mapping[str, list[str]] | None = None,
    ) -> Page:
        """One page of the pending requests `user_id` may decide, the oldest deadline first, and how many
        there are: a call's approvers (`groups` are the approver entries whose groups hold the user), or, for
        a call without approvers, the members of its rule's own channel or of the channels the request is
        shown in (`channels` are those that hold the user), or the calls of the people away who named the user
        their delegate (`standing_in`: each with the approver entries that name them) but for the runs those
        people asked for, and the four-eyes rule, applied in SQL before the LIMIT."""
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
        for person, entries in (standing_in or {}).items():
            of_this = approval_approvers.c.approval_id == approvals.c.id
            names_them = exists().where(of_this, approval_approvers.c.approver.in_(entries))
            not_theirs = or_(approvals.c.allow_self_approval, runs.c.requested_by.is_(None), runs.c.requested_by != person)
            approver = or_(approver, and_(names_them, not_theirs))
        may_decide = (
            *_POSTED_PENDING,
            approver,
            or_(approvals.c.allow_self_approval, runs.c.requested_by.is_(None), runs.c.requested_by != user_id),
        )
        joined = approvals.join(runs, runs.c.thread_id == approvals.c.thread_id)
        order = (approvals.c.deadline_at, approvals.c.created_at, approvals.c.id)
        with self.db.engine.connect() as conn:
            total = _capped_count(conn, select(approvals.c.id).select_from(joined).where(*may_decide), offset + limit)
            ids = list(
                conn.execute(
                    select(approvals.c.id).select_from(joined).where(*may_decide).order_by(*order).limit(limit).offset(offset)
                ).scalars()
            )
            return Page(load_requests(conn, ids), *total)

    def pending_group_approvers(self) -> list[str]:
        """The user groups (`@handle`, `S…`) named as approvers of pending requests: those whose members
        the caller resolves before asking `pending_for`."""
        is_group = or_(approval_approvers.c.approver.like("@%"), approval_approvers.c.approver.like("S%"))
        with self.db.engine.connect() as conn:
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
        with self.db.engine.connect() as conn:
            # A channel at a time along an index (a loose index scan): as cheap at 10,000 pending as at 100.
            posted = _distinct_after(conn, approvals.c.channel, approvals.c.status == Status.PENDING.value)
            # The approvers' key, `#C…` entries: of pending requests and of decided ones alike (it is not worth a
            # join to tell them apart; their channels are few).
            own_range = approval_approvers.c.approver < chr(ord(CHANNEL_MEMBERS) + 1)
            own = _distinct_after(conn, approval_approvers.c.approver, own_range, start=CHANNEL_MEMBERS)
            escalated = conn.execute(
                select(approval_escalations.c.channel)
                .distinct()
                .join(approvals, approvals.c.id == approval_escalations.c.approval_id)
                .where(approvals.c.status == Status.PENDING.value)
            ).scalars()
            channels = {*posted, *escalated, *(entry.removeprefix(CHANNEL_MEMBERS) for entry in own)}
        return sorted(channels)

    def pending_summary(self) -> tuple[int, datetime | None]:
        """How many requests wait for a decision, and when the oldest of them was created."""
        with self.db.engine.connect() as conn:
            count, oldest = conn.execute(
                select(func.count(), func.min(approvals.c.created_at)).where(approvals.c.status == Status.PENDING.value)
            ).one()
        return count, oldest

    def statuses(self, approval_ids: list[str]) -> dict[str, Status]:
        """The status of each of these requests (one query, for counting what a batch of deadlines did)."""
        if not approval_ids:
            return {}
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(approvals.c.id, approvals.c.status).where(approvals.c.id.in_(approval_ids))).all()
        return {row.id: Status(row.status) for row in rows}

    def requests_for_thread(self, thread_id: str) -> list[ApprovalRequest]:
        """Every request of a run, oldest first."""
        with self.db.engine.connect() as conn:
            return load_requests(conn, list(conn.execute(_REQUESTS_OF_THREAD, {"thread": thread_id}).scalars()))

    def decided_before(self, approval: ApprovalRequest, limit: int = EARLIER_STEPS) -> Page:
        """The run's last `limit` decided requests from before this one, oldest first, and how many there
        are (the "earlier steps" of its message): a bounded read however long the run."""
        before = {"thread": approval.thread_id, "b_created": approval.created_at, "request": approval.id}
        with self.db.engine.connect() as conn:
            ids = list(conn.execute(_DECIDED_BEFORE, {**before, "b_limit": limit}).scalars())
            if not ids:
                # A run's first step (most requests): one statement, not seven.
                return Page([], 0)
            total = len(ids)
            if total == limit:
                total = conn.execute(_COUNT_DECIDED_BEFORE, before).scalar_one()
            return Page(load_requests(conn, ids[::-1]), total)

    def has_requests(self, thread_id: str) -> bool:
        """True once the run has asked for any approval."""
        with self.db.engine.connect() as conn:
            return bool(conn.execute(select(exists().where(approvals.c.thread_id == thread_id))).scalar())
