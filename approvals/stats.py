"""Are the gates right? Approval figures per checkpoint (agent, tool, the rule that governed the call and
its level) over a window, with the flags the human-in-the-loop practice watches for:

- approved unchanged more than 95 % of the time: the checkpoint is probably unnecessary (soft or auto);
- modified more than 30 %: the agent's proposals need work;
- many requests expiring: approvers don't keep up.

Each proposed call counts once (a request with three calls counts three). Everything is counted in SQL
(a few aggregate queries, whatever the history's length), so a slash command answers in time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field
from sqlalchemy import Engine, and_, case, extract, func, literal, or_, select
from sqlalchemy.sql import ColumnElement

from approvals.models import (
    DEADLINE_DECIDER,
    POLICY_DECIDER,
    REMEMBERED_DECIDER,
    REPEATED_IDS_DECIDER,
    Duration,
    Level,
    format_duration,
    utcnow,
)
from approvals.tables import approval_actions, approvals, runs

DEFAULT_WINDOWS = [timedelta(days=7), timedelta(days=30)]


class Thresholds(BaseModel):
    """When a checkpoint is flagged (the practice's numbers), and the fewest decisions worth judging by."""

    model_config = ConfigDict(frozen=True)

    unchanged_above: float = 0.95
    modified_above: float = 0.30
    expired_from: float = 0.10
    min_decisions: int = 10


class Reason(BaseModel):
    """A reason approvers gave when rejecting, and how often."""

    text: str
    count: int


class Figures(BaseModel):
    """What happened to the calls of one checkpoint (or all of them) in the window."""

    requests: int = 0
    pending: int = 0
    approved: int = 0  # by a person, unchanged
    edited: int = 0
    rejected: int = 0
    replied: int = 0
    expired: int = 0  # rejected at the deadline
    soft: int = 0  # went ahead at the deadline
    auto: int = 0  # approved by policy, no person involved
    escalated: int = 0  # whatever the outcome, the request went to an escalation stage
    top_reasons: list[Reason] = Field(default_factory=list)
    p50_seconds: float | None = None  # time from the request to a person's decision
    p90_seconds: float | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def decided(self) -> int:
        """Calls with an outcome, whoever or whatever decided."""
        return self.requests - self.pending

    @computed_field  # type: ignore[prop-decorator]
    @property
    def by_people(self) -> int:
        """Calls a person decided."""
        return self.approved + self.edited + self.rejected + self.replied

    @computed_field  # type: ignore[prop-decorator]
    @property
    def posted(self) -> int:
        """Calls that waited on people and were settled (by them, or by the deadline)."""
        return self.by_people + self.expired + self.soft

    @computed_field  # type: ignore[prop-decorator]
    @property
    def approval_rate(self) -> float | None:
        """Share of decided calls that went ahead (approved, edited, at the deadline or by policy)."""
        return _ratio(self.approved + self.edited + self.soft + self.auto, self.decided)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unchanged_rate(self) -> float | None:
        """Share of people's decisions that approved the call as proposed."""
        return _ratio(self.approved, self.by_people)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def modification_rate(self) -> float | None:
        """Share of people's decisions that changed the call's arguments."""
        return _ratio(self.edited, self.by_people)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def expired_rate(self) -> float | None:
        """Share of the calls waiting on people that nobody decided before the deadline (rejected then)."""
        return _ratio(self.expired, self.posted)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class Proposal(BaseModel):
    """A settings change an admin can make from a flag: the scope and the new level."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scope: str
    level: Level
    because: str = Field(max_length=300)


class Flag(BaseModel):
    """Something about a checkpoint worth an admin's attention, and what they might do."""

    kind: Literal["unchanged", "modified", "expired"]
    text: str
    proposal: Proposal | None = None


class CheckpointStats(BaseModel):
    """One checkpoint's figures and flags."""

    agent: str
    tool: str
    rule: str
    level: str
    figures: Figures
    flags: list[Flag] = Field(default_factory=list)

    @property
    def scope(self) -> str:
        """The checkpoint's agent.tool."""
        return f"{self.agent}.{self.tool}"

    @property
    def rule_scope(self) -> str:
        """The admin-settings scope of this checkpoint's own calls: its agent.tool under its rule, no others."""
        return f"{self.scope}#{self.rule}"


class StatsReport(BaseModel):
    """Figures per checkpoint over a window, and for all of them together."""

    window: Duration
    since: datetime
    until: datetime
    scope: str | None = None
    checkpoints: list[CheckpointStats] = Field(default_factory=list)
    total: Figures = Field(default_factory=Figures)

    @property
    def window_label(self) -> str:
        """The window as people write it (`7d`)."""
        return format_duration(self.window)


def percent(rate: float | None) -> str:
    """A rate as people read it: `97 %`, `–` with nothing to judge by."""
    return "–" if rate is None else f"{round(rate * 100)} %"


def duration_in(seconds: float | None, units: tuple[str, str, str, str]) -> str:
    """A duration in the largest unit that still reads well (seconds below 90, minutes below 90, hours below
    48, else days), followed by that unit's word in `units` (seconds, minutes, hours, days); `–` for none."""
    if seconds is None:
        return "–"
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f}{units[0]}"
    if seconds < 5400:
        return f"{seconds / 60:.0f}{units[1]}"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}{units[2]}"
    return f"{seconds / 86400:.1f}{units[3]}"


def approval_stats(
    engine: Engine,
    window: timedelta = DEFAULT_WINDOWS[0],
    scope: str | None = None,
    *,
    now: datetime | None = None,
    thresholds: Thresholds | None = None,
) -> StatsReport:
    """The figures of every checkpoint with requests created in the `window` before `now`, optionally of
    one agent (`payments`) or agent.tool (`payments.refund`), with their flags."""
    until = now or utcnow()
    since = until - window
    calls = _calls(engine, since, until, scope)
    keys = [calls.c.agent, calls.c.tool, calls.c.rule, calls.c.level]
    with engine.connect() as conn:
        groups = {tuple(row[:4]): Figures(**row._mapping) for row in conn.execute(_counted(calls, keys))}
        total_row = conn.execute(_counted(calls, [])).first()
        total = Figures(**total_row._mapping) if total_row is not None and total_row.requests else Figures()
        for row in conn.execute(_percentiles(calls, keys)):
            figures = groups[tuple(row[:4])]
            figures.p50_seconds, figures.p90_seconds = _rounded(row.p50), _rounded(row.p90)
        for row in conn.execute(_percentiles(calls, [])):
            total.p50_seconds, total.p90_seconds = _rounded(row.p50), _rounded(row.p90)
        for row in conn.execute(_reasons(calls, keys)):
            groups[tuple(row[:4])].top_reasons.append(Reason(text=row.reason, count=row.count))
        for row in conn.execute(_reasons(calls, [])):
            total.top_reasons.append(Reason(text=row.reason, count=row.count))
    checkpoints = [
        CheckpointStats(agent=agent, tool=tool, rule=rule, level=level, figures=figures)
        for (agent, tool, rule, level), figures in groups.items()
    ]
    for checkpoint in checkpoints:
        checkpoint.flags = flags(checkpoint, thresholds or Thresholds(), format_duration(window))
    checkpoints.sort(key=lambda c: (-c.figures.requests, c.agent, c.tool, c.rule))
    return StatsReport(window=window, since=since, until=until, scope=scope, checkpoints=checkpoints, total=total)


def _rounded(seconds: Any) -> float | None:
    # Milliseconds are plenty, and SQLite's julianday arithmetic is no finer.
    return None if seconds is None else round(float(seconds), 3)


def flags(checkpoint: CheckpointStats, thresholds: Thresholds, window: str) -> list[Flag]:
    """What the practice says about a checkpoint's figures (nothing below `min_decisions`)."""
    figures = checkpoint.figures
    found: list[Flag] = []
    if figures.by_people >= thresholds.min_decisions:
        unchanged = figures.unchanged_rate or 0.0
        if unchanged > thresholds.unchanged_above:
            lighter = {Level.HARD.value: Level.SOFT, Level.SOFT.value: Level.AUTO}.get(checkpoint.level)
            because = f"{percent(unchanged)} approved unchanged ({figures.approved} of {figures.by_people}) over {window}"
            found.append(
                Flag(
                    kind="unchanged",
                    text=(
                        f"approved unchanged {percent(unchanged)} (> {percent(thresholds.unchanged_above)}): "
                        "consider soft or auto"
                    ),
                    proposal=Proposal(scope=checkpoint.rule_scope, level=lighter, because=because) if lighter else None,
                )
            )
        modified = figures.modification_rate or 0.0
        if modified > thresholds.modified_above:
            found.append(
                Flag(
                    kind="modified",
                    text=(
                        f"modified {percent(modified)} (> {percent(thresholds.modified_above)}): the agent's proposals need work"
                    ),
                )
            )
    if figures.posted >= thresholds.min_decisions:
        expired = figures.expired_rate or 0.0
        if expired >= thresholds.expired_from:
            found.append(Flag(kind="expired", text=f"{percent(expired)} expired: approvers don't keep up"))
    return found


# --- the SQL ---------------------------------------------------------------------------------------


def _seconds(later: Any, earlier: Any, dialect: str) -> ColumnElement[float]:
    """Seconds between two timestamp columns, in the database's own arithmetic."""
    if dialect == "postgresql":
        # SQLAlchemy types every extract() as an integer; an epoch is fractional seconds.
        return extract("epoch", later - earlier)  # type: ignore[return-value]
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _calls(engine: Engine, since: datetime, until: datetime, scope: str | None) -> Any:
    """One row per proposed call in the window: its checkpoint, how it was decided, how long a person took."""
    decider = approval_actions.c.decided_by
    kind = approval_actions.c.decision_type
    outcome = case(
        (kind.is_(None), "pending"),
        # Nobody was asked: the policy, or an earlier approval that remembers, let it go ahead.
        (or_(decider == POLICY_DECIDER, decider.startswith(REMEMBERED_DECIDER)), "auto"),
        (and_(decider == DEADLINE_DECIDER, kind == "approve"), "soft"),
        (decider == DEADLINE_DECIDER, "expired"),
        (kind == "approve", "approved"),
        (kind == "edit", "edited"),
        (kind == "respond", "replied"),
        else_="rejected",
    )
    not_people = [POLICY_DECIDER, DEADLINE_DECIDER, REPEATED_IDS_DECIDER]
    by_person = and_(kind.is_not(None), decider.not_in(not_people), ~decider.startswith(REMEMBERED_DECIDER))
    seconds = case((by_person, _seconds(approval_actions.c.decided_at, approvals.c.created_at, engine.dialect.name)))
    query = (
        select(
            runs.c.agent.label("agent"),
            approval_actions.c.tool.label("tool"),
            func.coalesce(approvals.c.gate["rule"].as_string(), "default").label("rule"),
            func.coalesce(approvals.c.gate["level"].as_string(), Level.HARD.value).label("level"),
            outcome.label("outcome"),
            case((approvals.c.stage > 0, 1), else_=0).label("escalated"),
            seconds.label("seconds"),
            approval_actions.c.decision_message.label("message"),
        )
        .select_from(approval_actions.join(approvals, approvals.c.id == approval_actions.c.approval_id))
        .join(runs, runs.c.thread_id == approvals.c.thread_id)
        .where(approvals.c.created_at >= since, approvals.c.created_at < until)
    )
    if scope:
        agent, _, tool = scope.partition(".")
        query = query.where(runs.c.agent == agent)
        if tool:
            query = query.where(approval_actions.c.tool == tool)
    return query.subquery("calls")


_OUTCOMES = ["pending", "approved", "edited", "rejected", "replied", "expired", "soft", "auto"]


def _counted(calls: Any, keys: list[Any]) -> Any:
    counts = [func.count().label("requests")]
    counts += [func.coalesce(func.sum(case((calls.c.outcome == name, 1), else_=0)), 0).label(name) for name in _OUTCOMES]
    counts.append(func.coalesce(func.sum(calls.c.escalated), 0).label("escalated"))
    return select(*keys, *counts).group_by(*keys) if keys else select(*counts)


def _percentiles(calls: Any, keys: list[Any]) -> Any:
    """p50 and p90 (nearest rank) of a person's time to decision, per group: window functions, no sorting in Python."""
    ranked = (
        select(
            *keys,
            calls.c.seconds,
            func.row_number().over(partition_by=keys or None, order_by=calls.c.seconds).label("rank"),
            func.count().over(partition_by=keys or None).label("n"),
        )
        .where(calls.c.seconds.is_not(None))
        .subquery("ranked")
    )
    group = [ranked.c[key.name] for key in keys]
    # ceil(n / 2) and ceil(9 n / 10) in integer arithmetic, the same on SQLite and PostgreSQL.
    p50 = func.max(case((ranked.c.rank == (ranked.c.n + 1) // 2, ranked.c.seconds)))
    p90 = func.max(case((ranked.c.rank == (ranked.c.n * 9 + 9) // 10, ranked.c.seconds)))
    query = select(*group, p50.label("p50"), p90.label("p90"))
    return query.group_by(*group) if group else query


def _reasons(calls: Any, keys: list[Any], top: int = 3) -> Any:
    """The `top` most frequent rejection reasons per group."""
    reason = func.trim(calls.c.message)
    counted = (
        select(
            *keys,
            reason.label("reason"),
            func.count().label("count"),
            func.row_number().over(partition_by=keys or None, order_by=[func.count().desc(), reason]).label("rank"),
        )
        .where(calls.c.outcome == "rejected", calls.c.message.is_not(None), reason != literal(""))
        .group_by(*keys, reason)
        .subquery("reasons")
    )
    group = [counted.c[key.name] for key in keys]
    return select(*group, counted.c.reason, counted.c["count"]).where(counted.c.rank <= top).order_by(*group, counted.c.rank)
