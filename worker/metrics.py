"""The worker's Prometheus metrics (served at /metrics on COUNTERSIGN_METRICS_PORT; names in docs/operations.md).

Counters and the histogram are written by the job processes; the pending figures are read from SQL
when Prometheus scrapes, so every worker reports the same, current values.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from approvals.decision_kinds import goes_ahead
from approvals.models import (
    DEADLINE_DECIDER,
    POLICY_DECIDER,
    ApprovalRequest,
    rests_on,
    utcnow,
)
from approvals.prometheus import scrape_registry
from approvals.store import Store
from worker.fork_guard import between_forks

RUNS = Counter("countersign_worker_runs_total", "Run jobs (start a run or take it further), by outcome.", ["outcome"])
RESUMES = Counter("countersign_worker_resumes_total", "Resume jobs (hand a decision to its agent), by outcome.", ["outcome"])
CLICK_TO_TOOL_START = Histogram(
    "countersign_worker_click_to_tool_start_seconds",
    "From a person's approval (the click) to the start of the approved tool call.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
DEADLINES_FIRED = Counter(
    "countersign_worker_deadlines_fired_total", "Deadlines applied, by outcome (reject, approve, escalate).", ["outcome"]
)


def click_time(approval: ApprovalRequest) -> datetime | None:
    """When a person last approved (or edited) one of the request's calls; None when no person did."""
    moments = [
        action.decision.decided_at
        for action in approval.actions
        if action.decision is not None
        and goes_ahead(action.decision.type)
        and action.decision.decided_by not in (POLICY_DECIDER, DEADLINE_DECIDER)
        and rests_on(action.decision.decided_by) is None
    ]
    return max(moments) if moments else None


def tool_started(clicked_at: datetime) -> None:
    """An approved tool call started: observe the time since the click."""
    CLICK_TO_TOOL_START.observe(max(0.0, (utcnow() - clicked_at).total_seconds()))


class PendingCollector(Collector):
    """Requests waiting for a decision, and the age of the oldest, read from SQL at each scrape."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Any]:
        with between_forks():
            count, oldest = self.store.lists.pending_summary()
        pending = GaugeMetricFamily("countersign_pending_requests", "Approval requests waiting for a decision.")
        pending.add_metric([], count)
        age = GaugeMetricFamily(
            "countersign_oldest_pending_request_age_seconds",
            "Age of the oldest approval request still waiting for a decision (0 when none waits).",
        )
        age.add_metric([], (utcnow() - oldest).total_seconds() if oldest is not None else 0.0)
        yield pending
        yield age


def registry(store: Store) -> Any:
    """What the worker's /metrics serves: its job processes' metrics and the pending figures."""
    return scrape_registry(PendingCollector(store))
