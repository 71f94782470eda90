"""Async agents run as their authors wrote them (async-only tools, async nodes), with every guarantee of
the sync path: a Reject never runs the call, an approval runs it once."""

from __future__ import annotations

from bot.ids import ActionId
from tests.stack import Stack


def test_async_only_tool_runs_once_after_approval(stack: Stack) -> None:
    approval = stack.start_run("Refund order #320 for $250", agent="payments_async")

    stack.click("U0APPROVER", ActionId.APPROVE, approval)

    assert "Refunded $250.00 for order #320" in stack.outcome(approval)
    assert stack.refunds_of("320") == 1


def test_async_only_tool_never_runs_after_a_reject(stack: Stack) -> None:
    approval = stack.start_run("Refund order #321 for $250", agent="payments_async")

    stack.answer("U0APPROVER", ActionId.REJECT, approval, "Chargeback pending")

    outcome = stack.outcome(approval)
    assert "I did not refund order #321" in outcome and "Chargeback pending" in outcome
    assert stack.refunds_of("321") == 0


def test_async_node_with_a_bare_interrupt_reads_the_decision(stack: Stack) -> None:
    approval = stack.start_run("Ship search", agent="deploy_async")
    deploys = len(stack.effects_of("deploys"))

    stack.answer("U0APPROVER", ActionId.REJECT, approval, "Freeze until Monday")

    assert "Not deployed: Freeze until Monday" in stack.outcome(approval)
    assert len(stack.effects_of("deploys")) == deploys
