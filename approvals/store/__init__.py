"""The store: runs, approval requests, decisions, owed work, the tool journal and the audit log, in SQL.

SQL is the source of truth. A decision is committed here before anything is enqueued, and "first decision
wins" is one conditional UPDATE, atomic on SQLite and PostgreSQL alike. What is owed next (a run to take
further, a decision to hand to its agent, a deadline or a reminder) is read from these tables by the
dispatcher, so a Redis that lost its data delays work and loses none. The tables themselves are in
`approvals.tables`.

The store is split by noun, each section over the one shared `Database`: `store.runs` (runs and leases),
`store.requests` (requests and their delivery), `store.decisions`, `store.due` (owed work and
time), `store.lists` (reads for lists), `store.journal` (tool calls), `store.audit_log`,
`store.placements` (where each front-end showed things, in its own terms), `store.api_keys` (the
approval API's keys and what it was asked), `store.people` (what people said about themselves),
`store.remembered` (approvals that cover a run's later calls), and `store.deliveries` (requests from a
front-end already handled, so a retry does nothing twice). A section that
writes another's rows inside its own transaction calls that section's module-level helper with its
`Connection` (`record_audit`, `owe_reminders`, `load_requests`).
"""

from __future__ import annotations

from sqlalchemy import Engine

from approvals.store.api_keys import ApiKeys
from approvals.store.audit_log import AuditLog
from approvals.store.database import PING_AFTER_IDLE_SECONDS, Database, create_db_engine
from approvals.store.decisions import Decided, DecisionRecord, Decisions
from approvals.store.deliveries import Deliveries, SeenDelivery
from approvals.store.due import Due, Escalated
from approvals.store.lists import COUNT_CAP, EARLIER_STEPS, Lists
from approvals.store.people import People
from approvals.store.placements import Placements
from approvals.store.remembered import RememberedApprovals
from approvals.store.requests import Requests
from approvals.store.runs import Runs
from approvals.store.tool_journal import ToolCallRecord, ToolJournal

__all__ = [
    "COUNT_CAP",
    "EARLIER_STEPS",
    "PING_AFTER_IDLE_SECONDS",
    "Database",
    "Decided",
    "DecisionRecord",
    "Deliveries",
    "Escalated",
    "SeenDelivery",
    "Store",
    "ToolCallRecord",
    "create_db_engine",
]


class Store:
    """Every section of the store over one `Database` (one engine, one writer lock per process;
    `sync_every_commit` as `Database` takes it)."""

    def __init__(self, engine: Engine, sync_every_commit: bool = True) -> None:
        self.db = Database(engine, sync_every_commit)
        self.runs = Runs(self.db)
        self.requests = Requests(self.db)
        self.decisions = Decisions(self.db)
        self.due = Due(self.db)
        self.lists = Lists(self.db)
        self.journal = ToolJournal(self.db)
        self.audit_log = AuditLog(self.db)
        self.placements = Placements(self.db)
        self.api_keys = ApiKeys(self.db)
        self.people = People(self.db)
        self.remembered = RememberedApprovals(self.db)
        self.deliveries = Deliveries(self.db)
