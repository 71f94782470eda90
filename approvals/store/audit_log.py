"""The audit log: appending rows (alone, or inside another section's transaction) and reading them back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from approvals.audit import AuditEntry, append_audit
from approvals.models import AuditEvent
from approvals.store.database import Database
from approvals.tables import audit_log


def record_audit(conn: Connection, event: str, approval_id: str | None, actor: str | None, detail: dict[str, Any]) -> None:
    """Append one audit row inside the caller's transaction: it commits, or rolls back, with what it records."""
    append_audit(conn, [AuditEntry(event, approval_id, actor, detail)])


class AuditLog:
    """The hash-chained audit log (`approvals.audit`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def audit(self, event: str, approval_id: str | None, actor: str | None, detail: dict[str, Any]) -> None:
        """Append one row to the audit log."""
        with self.db.writing() as conn:
            record_audit(conn, event, approval_id, actor, detail)

    def audit_events(self, approval_id: str | None = None) -> list[AuditEvent]:
        """The audit log, oldest first, optionally for one request."""
        query = select(audit_log).order_by(audit_log.c.id)
        if approval_id is not None:
            query = query.where(audit_log.c.approval_id == approval_id)
        with self.db.engine.connect() as conn:
            return [AuditEvent(**row) for row in conn.execute(query).mappings()]
