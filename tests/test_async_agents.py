"""Async agents run as their authors wrote them (async-only tools, async nodes), with every guarantee of
the sync path: a Reject never runs the call, an approval runs it once."""

from __future__ import annotations

from bot.ids import ActionId
from tests.local import Local


def test_async_only_tool_runs_once_after_approval(local: Local) -> None:
    approval = local.start_run("Refund order #320 for $250", agent="payments_async")

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Refunded $250.00 for order #320" in local.outcome(approval)
    assert local.refunds_of("320") == 1


def test_async_only_tool_never_runs_after_a_reject(local: Local) -> None:
    approval = local.start_run("Refund order #321 for $250", agent="payments_async")

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Chargeback pending")

    outcome = local.outcome(approval)
    assert "I did not refund order #321" in outcome and "Chargeback pending" in outcome
    assert local.refunds_of("321") == 0


def test_async_node_with_a_bare_interrupt_reads_the_decision(local: Local) -> None:
    approval = local.start_run("Ship search", agent="deploy_async")
    deploys = len(local.effects_of("deploys"))

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Freeze until Monday")

    assert "Not deployed: Freeze until Monday" in local.outcome(approval)
    assert len(local.effects_of("deploys")) == deploys
