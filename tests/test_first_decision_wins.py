"""Exactly one decision per request: double clicks, racing approvers and stale messages change nothing."""

from __future__ import annotations

import threading

from bot.ids import ActionId
from sandbox.driver import Response
from tests.stack import Stack


def _decided_rows(stack: Stack, approval_id: str) -> list:
    return [event for event in stack.store.audit_events(approval_id) if event.event == "decided"]


def test_double_click_decides_once_and_tells_the_clicker_who_decided(stack: Stack) -> None:
    approval = stack.start_run("Refund order #70 for $250")

    stack.click("U0DOUBLE", ActionId.APPROVE, approval)
    stack.click("U0DOUBLE", ActionId.APPROVE, approval)

    assert "Nothing changed" in stack.ephemeral_to("U0DOUBLE")[0]
    assert "Approved* by <@U0DOUBLE>" in stack.ephemeral_to("U0DOUBLE")[0]
    assert len(_decided_rows(stack, approval.id)) == 1
    stack.outcome(approval)


def test_racing_approvers_produce_exactly_one_decision(stack: Stack) -> None:
    approval = stack.start_run("Refund order #71 for $250")
    approvers = [f"U0RACER{n}" for n in range(6)]
    barrier = threading.Barrier(len(approvers))
    responses: dict[str, Response] = {}

    def click(user: str) -> None:
        barrier.wait()
        responses[user] = stack.click(user, ActionId.APPROVE, approval)

    threads = [threading.Thread(target=click, args=(user,)) for user in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(response.status == 200 for response in responses.values())
    answer = stack.outcome(approval)
    assert answer.count("Refunded $250.00 for order #71") == 1
    winner = stack.store.get(approval.id).action.decision.decided_by
    for loser in set(approvers) - {winner}:
        assert f"Approved* by <@{winner}>" in stack.ephemeral_to(loser)[0]
    assert len(_decided_rows(stack, approval.id)) == 1


def test_click_on_a_stale_message_after_the_run_finished_changes_nothing(stack: Stack) -> None:
    approval = stack.start_run("Refund order #72 for $250")
    stack.click("U0FIRST", ActionId.APPROVE, approval)
    stack.outcome(approval)
    opened_before = len(stack.slack.calls_to("views.open"))

    response = stack.click("U0LATE", ActionId.REJECT, approval)

    assert response.status == 200
    assert "Approved* by <@U0FIRST>" in stack.ephemeral_to("U0LATE")[0]
    assert len(stack.slack.calls_to("views.open")) == opened_before
    assert stack.store.get(approval.id).status == "approved"
