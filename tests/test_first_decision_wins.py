"""Exactly one decision per request: double clicks, racing approvers and stale messages change nothing."""

from __future__ import annotations

import threading

from bot.ids import ActionId
from sandbox.driver import Response
from tests.local import Local


def _decided_rows(local: Local, approval_id: str) -> list:
    return [event for event in local.store.audit_log.audit_events(approval_id) if event.event == "decided"]


def test_double_click_decides_once_and_tells_the_clicker_who_decided(local: Local) -> None:
    approval = local.start_run("Refund order #70 for $250")

    local.click("U0DOUBLE", ActionId.APPROVE, approval)
    local.click("U0DOUBLE", ActionId.APPROVE, approval)

    assert "Nothing changed" in local.ephemeral_to("U0DOUBLE")[0]
    assert "Approved* by <@U0DOUBLE>" in local.ephemeral_to("U0DOUBLE")[0]
    assert len(_decided_rows(local, approval.id)) == 1
    local.outcome(approval)


def test_racing_approvers_produce_exactly_one_decision(local: Local) -> None:
    approval = local.start_run("Refund order #71 for $250")
    approvers = [f"U0RACER{n}" for n in range(6)]
    barrier = threading.Barrier(len(approvers))
    responses: dict[str, Response] = {}

    def click(user: str) -> None:
        barrier.wait()
        responses[user] = local.click(user, ActionId.APPROVE, approval)

    threads = [threading.Thread(target=click, args=(user,)) for user in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(response.status == 200 for response in responses.values())
    answer = local.outcome(approval)
    assert answer.count("Refunded $250.00 for order #71") == 1
    winner = local.store.requests.get(approval.id).action.decision.decided_by
    for loser in set(approvers) - {winner}:
        assert f"Approved* by <@{winner}>" in local.ephemeral_to(loser)[0]
    assert len(_decided_rows(local, approval.id)) == 1


def test_click_on_a_stale_message_after_the_run_finished_changes_nothing(local: Local) -> None:
    approval = local.start_run("Refund order #72 for $250")
    local.click("U0FIRST", ActionId.APPROVE, approval)
    local.outcome(approval)
    opened_before = len(local.slack.calls_to("views.open"))

    response = local.click("U0LATE", ActionId.REJECT, approval)

    assert response.status == 200
    assert "Approved* by <@U0FIRST>" in local.ephemeral_to("U0LATE")[0]
    assert len(local.slack.calls_to("views.open")) == opened_before
    assert local.store.requests.get(approval.id).status == "approved"
