"""Approval figures per checkpoint, from a history seeded through the store: what admins read in Slack and
in the shell, and the flags that say a gate is wrong."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from approvals.models import (
    DEADLINE_DECIDER,
    POLICY_DECIDER,
    ApprovalRequest,
    Decision,
    DecisionType,
    EscalationStage,
    Gate,
    Level,
    NewApprovalRequest,
    ProposedAction,
    Run,
    utcnow,
)
from approvals.stats import approval_stats
from approvals.store import Store
from tests.forkserver import ForkServer
from tests.stack import REPO_ROOT


def _request(
    store: Store,
    agent: str = "payments",
    tool: str = "refund",
    rule: str = "refunds",
    level: Level = Level.HARD,
    **gate: Any,
) -> ApprovalRequest:
    run = store.runs.create_run(
        Run(thread_id=uuid.uuid4().hex, agent=agent, input_text="Refund order #42", requested_by="U0ASKER")
    )
    return store.requests.create_request(
        NewApprovalRequest(
            thread_id=run.thread_id,
            interrupt_id=uuid.uuid4().hex,
            kind="langchain_hitl",
            actions=[ProposedAction(tool=tool, args={"order_id": "42", "amount": 250.0})],
            gate=Gate(rule=rule, level=level, **gate),
        )
    )


def _decide(
    store: Store,
    request: ApprovalRequest,
    kind: DecisionType,
    after: timedelta = timedelta(minutes=1),
    by: str = "U0APPROVER",
    **extra: Any,
) -> None:
    if kind is DecisionType.EDIT:
        extra.setdefault("edited_args", {"order_id": "42", "amount": 200.0})
    store.decisions.decide(request.id, Decision(type=kind, decided_by=by, decided_at=request.created_at + after, **extra))


def test_no_history_gives_no_checkpoints_and_no_flags(empty_store: Store) -> None:
    report = approval_stats(empty_store.db.engine)

    assert report.checkpoints == []
    assert report.total.requests == 0 and report.total.approval_rate is None and report.total.p50_seconds is None


def test_one_rule_approved_unchanged_nearly_always_is_flagged_with_a_proposal_to_make_it_soft(empty_store: Store) -> None:
    for minutes in range(1, 21):
        _decide(empty_store, _request(empty_store), DecisionType.APPROVE, after=timedelta(minutes=minutes))
    _request(empty_store)  # still pending

    report = approval_stats(empty_store.db.engine, timedelta(days=7))

    [checkpoint] = report.checkpoints
    assert (checkpoint.agent, checkpoint.tool, checkpoint.rule, checkpoint.level) == ("payments", "refund", "refunds", "hard")
    figures = checkpoint.figures
    assert (figures.requests, figures.approved, figures.pending) == (21, 20, 1)
    assert figures.approval_rate == 1.0 and figures.modification_rate == 0.0
    assert (figures.p50_seconds, figures.p90_seconds) == (600.0, 1080.0)
    [flag] = checkpoint.flags
    assert flag.text == "approved unchanged 100 % (> 95 %): consider soft or auto"
    assert flag.proposal is not None and (flag.proposal.scope, flag.proposal.level) == ("payments.refund#refunds", Level.SOFT)
    assert flag.proposal.because == "100 % approved unchanged (20 of 20) over 7d"


def test_escalated_then_approved_counts_as_both(empty_store: Store) -> None:
    request = _request(
        empty_store,
        timeout=timedelta(minutes=30),
        on_timeout="escalate",
        escalation=[EscalationStage(channel="C0ONCALL", timeout=timedelta(hours=1))],
    )
    [escalated] = empty_store.due.escalate_due(request.created_at + timedelta(minutes=31))
    assert escalated.stage == 1

    _decide(empty_store, request, DecisionType.APPROVE, after=timedelta(minutes=45))

    figures = approval_stats(empty_store.db.engine).checkpoints[0].figures
    assert (figures.requests, figures.escalated, figures.approved, figures.expired) == (1, 1, 1, 0)
    assert figures.p50_seconds == 2700.0


def test_edited_then_approved_is_half_modified(empty_store: Store) -> None:
    first = _request(empty_store)
    _decide(empty_store, first, DecisionType.EDIT)
    second = empty_store.requests.create_request(
        NewApprovalRequest(
            thread_id=first.thread_id,
            interrupt_id=uuid.uuid4().hex,
            kind="langchain_hitl",
            actions=[ProposedAction(tool="refund", args={"order_id": "43", "amount": 10.0})],
            gate=first.gate,
        )
    )
    _decide(empty_store, second, DecisionType.APPROVE)

    figures = approval_stats(empty_store.db.engine).checkpoints[0].figures
    assert (figures.edited, figures.approved) == (1, 1)
    assert figures.modification_rate == 0.5 and figures.unchanged_rate == 0.5 and figures.approval_rate == 1.0


def test_deadlines_and_policy_are_counted_apart_from_people(empty_store: Store) -> None:
    expiring = _request(empty_store, rule="quick", timeout=timedelta(minutes=1))
    soft = _request(empty_store, rule="quick", timeout=timedelta(minutes=1), on_timeout="approve")
    auto = _request(empty_store, rule="quick")
    _decide(empty_store, auto, DecisionType.APPROVE, by=POLICY_DECIDER, after=timedelta(0))
    empty_store.due.expire_due(max(expiring.created_at, soft.created_at) + timedelta(minutes=2), DEADLINE_DECIDER)

    figures = approval_stats(empty_store.db.engine).checkpoints[0].figures

    assert (figures.expired, figures.soft, figures.auto, figures.by_people) == (1, 1, 1, 0)
    assert figures.approval_rate == 2 / 3 and figures.expired_rate == 0.5
    assert figures.p50_seconds is None  # nobody decided anything


def test_rejections_list_their_most_frequent_reasons(empty_store: Store) -> None:
    for reason in ["Wrong amount", "Wrong amount ", "Not our customer", "Wrong amount", "Duplicate", "Fraud"]:
        _decide(empty_store, _request(empty_store), DecisionType.REJECT, message=reason)
    _decide(empty_store, _request(empty_store), DecisionType.RESPOND, message="Ask the customer first")

    figures = approval_stats(empty_store.db.engine).checkpoints[0].figures

    assert (figures.rejected, figures.replied) == (6, 1)
    assert [(r.text, r.count) for r in figures.top_reasons] == [("Wrong amount", 3), ("Duplicate", 1), ("Fraud", 1)]


def test_many_edits_and_expiries_are_flagged_without_a_proposal(empty_store: Store) -> None:
    for n in range(12):
        request = _request(empty_store, tool="send_email", rule="emails", timeout=timedelta(minutes=5))
        if n < 5:
            _decide(empty_store, request, DecisionType.EDIT)
        elif n < 10:
            _decide(empty_store, request, DecisionType.APPROVE)
    empty_store.due.expire_due(utcnow() + timedelta(minutes=6), DEADLINE_DECIDER)

    [checkpoint] = approval_stats(empty_store.db.engine).checkpoints

    assert [(f.kind, f.text, f.proposal) for f in checkpoint.flags] == [
        ("modified", "modified 50 % (> 30 %): the agent's proposals need work", None),
        ("expired", "17 % expired: approvers don't keep up", None),
    ]


def test_figures_are_per_checkpoint_within_the_window_and_scope(empty_store: Store) -> None:
    _decide(empty_store, _request(empty_store, agent="payments", tool="refund"), DecisionType.APPROVE)
    _decide(empty_store, _request(empty_store, agent="payments", tool="void"), DecisionType.REJECT, message="No")
    _decide(empty_store, _request(empty_store, agent="support", tool="refund", rule="support refunds"), DecisionType.APPROVE)

    everything = approval_stats(empty_store.db.engine)
    payments = approval_stats(empty_store.db.engine, scope="payments")
    refunds = approval_stats(empty_store.db.engine, scope="payments.refund")
    later = approval_stats(empty_store.db.engine, timedelta(days=7), now=utcnow() + timedelta(days=8))
    month_later = approval_stats(empty_store.db.engine, timedelta(days=30), now=utcnow() + timedelta(days=8))

    assert sorted(c.scope for c in everything.checkpoints) == ["payments.refund", "payments.void", "support.refund"]
    assert everything.total.requests == 3 and everything.total.approved == 2
    assert sorted(c.scope for c in payments.checkpoints) == ["payments.refund", "payments.void"]
    assert [c.scope for c in refunds.checkpoints] == ["payments.refund"]
    assert later.checkpoints == [] and month_later.total.requests == 3


def test_countersign_stats_prints_a_table_and_json(empty_store: Store, fork_server: ForkServer) -> None:
    for _ in range(12):
        _decide(empty_store, _request(empty_store), DecisionType.APPROVE)
    env = {"DATABASE_URL": str(empty_store.db.engine.url.render_as_string(hide_password=False)), "PYTHONPATH": str(REPO_ROOT)}
    env["DATABASE_URL"] = env["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")

    shown = fork_server.run(["stats"], env)
    as_json = fork_server.run(["stats", "payments.refund", "--window", "30d", "--json"], env)

    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("Approvals, last 7d (since ")
    assert lines[1].split() == [
        "checkpoint",
        "level",
        "requests",
        "approved",
        "edited",
        "rejected",
        "replied",
        "expired",
        "escalated",
        "auto",
        "soft",
        "pending",
        "approval",
        "modified",
        "p50",
        "p90",
    ]
    assert lines[3].split() == [
        "payments.refund",
        "(refunds)",
        "hard",
        "12",
        "12",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "100",
        "%",
        "0",
        "%",
        "60s",
        "60s",
    ]
    assert "  ! payments.refund (refunds): approved unchanged 100 % (> 95 %): consider soft or auto" in lines
    assert any(line.startswith("Approvals, last 30d") for line in lines)
    [report] = json.loads(as_json.stdout)
    assert report["window"] == "30d" and report["scope"] == "payments.refund"
    assert report["checkpoints"][0]["figures"]["unchanged_rate"] == 1.0
