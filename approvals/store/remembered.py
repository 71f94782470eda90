"""Approvals that remember: an approval of a call that also lets later calls of its tool, under its rule, by its run
go ahead (for the rest of the run, or until a time). Written in the transaction of the decision they rest on, with
an audit row; read when the run pauses again, and when a request is loaded (its message says what it covers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, insert, or_, select

from approvals.models import ApprovalRequest, Remembered, remembered_decider, utcnow
from approvals.store.audit_log import record_audit
from approvals.store.database import Database
from approvals.tables import remembered_approvals


class RememberedApproval(BaseModel):
    """One call's remembered approval: which run, rule and tool it covers, until when (None: the rest of the run),
    the request and call it was given on, and who gave it."""

    model_config = ConfigDict(frozen=True)

    thread_id: str
    rule: str
    tool: str
    approval_id: str
    position: int
    approved_by: str
    until: datetime | None = None


def remember_calls(
    conn: Connection,
    positions: Sequence[int],
    *,
    approval: ApprovalRequest,
    approved_by: str,
    until: Mapping[int, datetime | None],
) -> None:
    """In the decision's transaction: remember the approval of each call at `positions` (those it decided), each until
    `until[position]`, with one audit row."""
    rows: list[dict[str, Any]] = [
        {
            "thread_id": approval.thread_id,
            "rule": approval.gate_of(position).rule,
            "tool": approval.actions[position].tool,
            "approval_id": approval.id,
            "position": position,
            "approved_by": approved_by,
            "until": until[position],
            "created_at": utcnow(),
        }
        for position in positions
        if position in until
    ]
    if not rows:
        return
    conn.execute(insert(remembered_approvals), rows)
    covers = [{"action": r["position"], "rule": r["rule"], "tool": r["tool"], "until": _iso(r["until"])} for r in rows]
    record_audit(conn, "approval_remembered", approval.id, approved_by, {"covers": covers})


def went_ahead(conn: Connection, approval: ApprovalRequest, positions: Sequence[int], on: RememberedApproval) -> None:
    """In the decision's transaction: the audit row of calls that went ahead on the remembered approval `on` (its actor
    the approval, as their decision's; who gave it in the detail)."""
    detail: dict[str, Any] = {"actions": list(positions), "rests_on": on.approval_id, "approved_by": on.approved_by}
    detail |= {"rule": on.rule, "tool": on.tool, "until": _iso(on.until)}
    record_audit(conn, "went_ahead_remembered", approval.id, remembered_decider(on.approval_id), detail)


def remembered_of(conn: Connection, approval_ids: Sequence[str]) -> dict[tuple[str, int], Remembered]:
    """What the approvals of these requests' calls cover, by (request, call)."""
    if not approval_ids:
        return {}
    table = remembered_approvals.c
    rows = conn.execute(select(table.approval_id, table.position, table.until).where(table.approval_id.in_(approval_ids)))
    return {(row.approval_id, row.position): Remembered(until=row.until) for row in rows}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class RememberedApprovals:
    """Reads the remembered approvals that still cover a run's calls."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def live(self, thread_id: str, now: datetime) -> list[RememberedApproval]:
        """The run's remembered approvals that still cover calls at `now`, the earliest given first."""
        table = remembered_approvals.c
        with self.db.connect() as conn:
            rows = conn.execute(
                select(remembered_approvals)
                .where(table.thread_id == thread_id, or_(table.until.is_(None), table.until > now))
                .order_by(table.id)
            ).mappings()
            return [RememberedApproval.model_validate(dict(row)) for row in rows]
