"""Settings admins change in Slack: per agent or agent.tool, they override the policy file's deadline
and channel defaults for new requests, without a restart, and every change leaves an audit row."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, bindparam, insert, select, update

from approvals.audit import AuditEntry, append_audit
from approvals.models import (
    Duration,
    EscalationStage,
    FinalTimeoutAction,
    Gate,
    Level,
    TimeoutAction,
    utcnow,
)
from approvals.tables import overrides

# A scope names an agent ("payments"), one of its tools ("payments.refund"), or one rule of a tool
# ("payments.refund#other refunds": only the calls of that tool that rule governs).
SCOPE = re.compile(r"^[\w-]+(\.[\w-]+(#[^#\n]{1,200})?)?$")
# Read for every new request (twice: the agent's scope and the call's), so built once.
_SETTINGS_OF = select(overrides.c.settings).where(overrides.c.scope == bindparam("scope"))
_SETTINGS_OF_MANY = select(overrides.c.scope, overrides.c.settings).where(
    overrides.c.scope.in_(bindparam("scopes", expanding=True))
)


class Override(BaseModel):
    """What admins set for one scope; unset fields keep the policy's value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout: Duration | None = None
    on_timeout: TimeoutAction | None = None
    final_on_timeout: FinalTimeoutAction | None = None
    channel: str | None = None
    escalation: list[EscalationStage] | None = None
    # How much attention the calls get, instead of the rule's level (e.g. made soft from a stats flag).
    level: Level | None = None

    def apply(self, gate: Gate) -> Gate:
        """The gate with these settings on top. A manual rule (its CONFIRM and its quorum) is never lowered,
        and deadlines never approve a hard or manual call (fail closed)."""
        values = {**gate.model_dump(), **self.model_dump(exclude_none=True)}
        if gate.level is Level.MANUAL:
            values["level"] = Level.MANUAL
        elif self.level is Level.SOFT and self.on_timeout is None:
            # What makes a call soft: it goes ahead at its deadline unless someone rejects it.
            values["on_timeout"] = "approve"
        if values["level"] in (Level.HARD, Level.MANUAL):
            for field in ("on_timeout", "final_on_timeout"):
                if values[field] == "approve":
                    values[field] = "reject"
        if values["on_timeout"] == "escalate" and not values["escalation"]:
            values["on_timeout"] = "reject"
        return Gate.model_validate(values)


class ScopedOverride(BaseModel):
    """An override with its scope and who last changed it."""

    model_config = ConfigDict(frozen=True)

    scope: str
    override: Override
    updated_by: str
    updated_at: datetime = Field(default_factory=utcnow)


class AdminSettings:
    """Reads and writes admins' overrides (SQL, shared by the bot and every worker)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def all(self) -> list[ScopedOverride]:
        """Every scope's override, by scope."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(overrides).order_by(overrides.c.scope)).mappings().all()
        return [
            ScopedOverride(
                scope=r["scope"], override=Override(**r["settings"]), updated_by=r["updated_by"], updated_at=r["updated_at"]
            )
            for r in rows
        ]

    def get(self, scope: str) -> Override:
        """One scope's override (empty when none was set)."""
        with self.engine.connect() as conn:
            values = conn.execute(_SETTINGS_OF, {"scope": scope}).scalar()
        return Override(**(values or {}))

    def for_call(self, agent: str, tool: str, rule: str | None = None) -> Override:
        """The override that applies to a call: the agent's, with the agent.tool's on top, and that of the
        rule governing it (`rule`, its label) on top of both."""
        scopes = [agent, f"{agent}.{tool}", *([f"{agent}.{tool}#{rule}"] if rule else [])]
        with self.engine.connect() as conn:
            stored = {row.scope: row.settings for row in conn.execute(_SETTINGS_OF_MANY, {"scopes": scopes})}
        merged: dict[str, Any] = {}
        for scope in scopes:
            merged.update(Override(**(stored.get(scope) or {})).model_dump(exclude_none=True))
        return Override(**merged)

    def change(self, scope: str, by: str, *, because: str | None = None, **values: Any) -> tuple[Override, Override]:
        """Set fields of a scope's override; returns (before, after) and writes an audit row (with
        `because`, the reason the change was proposed, when there is one)."""
        with self.engine.begin() as conn:
            current = conn.execute(select(overrides.c.settings).where(overrides.c.scope == scope)).scalar()
            before = Override(**(current or {}))
            after = Override(**{**before.model_dump(exclude_none=True), **values})
            stored = after.model_dump(mode="json", exclude_none=True)
            if current is None:
                conn.execute(insert(overrides).values(scope=scope, settings=stored, updated_by=by, updated_at=utcnow()))
            else:
                conn.execute(
                    update(overrides)
                    .where(overrides.c.scope == scope)
                    .values(settings=stored, updated_by=by, updated_at=utcnow())
                )
            detail = {"scope": scope, "from": before.model_dump(mode="json", exclude_none=True), "to": stored}
            if because:
                detail["because"] = because
            append_audit(conn, [AuditEntry("setting_changed", None, by, detail)])
        return before, after
