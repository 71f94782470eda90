"""The Python client, used the way a script that is not a LangGraph graph uses it: it asks the real bot over
HTTP, people decide in Slack, and the call runs (or not) as they decided."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from agents import set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

from approvals.models import ApprovalRequest
from bot.ids import ActionId, BlockId
from countersign.client import Approval, Countersign, Rejected
from examples.openai_agents_refunds import refunds_agent, run_gated
from sandbox.driver import number_value, plain_text_value
from tests.stack import Stack, wait_until

# A scripted model's runs have nothing to trace (and no OpenAI key to send traces with).
set_tracing_disabled(True)


def _client(stack: Stack, agent: str = "payments") -> Countersign:
    _, key = stack.store.api_keys.create(agent)
    return Countersign(f"http://127.0.0.1:{stack.port}", key, timeout=20)


def _posted(stack: Stack, approval_id: str) -> ApprovalRequest:
    """The request once its Slack message is up."""

    def posted() -> ApprovalRequest | None:
        request = stack.store.requests.get(approval_id)
        return request if stack.posted(request) else None

    return wait_until(posted, 20, f"approval {approval_id} in Slack")


def _in_background(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run `work` on a thread (a script waiting for its answer); its result or error lands in the list."""
    landed: list[Any] = []

    def run() -> None:
        try:
            landed.append(work())
        except Exception as error:  # noqa: BLE001 - the test reads it
            landed.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, landed


def test_a_script_asks_and_reads_the_approval_a_person_gave_in_slack(stack: Stack) -> None:
    client = _client(stack)
    asked = client.ask("refund", {"order_id": "801", "amount": 250.0}, context={"summary": "Parcel arrived damaged"})
    assert (asked.status, asked.decision) == ("pending", None)

    stack.click("U0APPROVER", ActionId.APPROVE, _posted(stack, asked.id))
    decided = client.get(asked.id, wait=20)

    assert decided.status == "approved" and decided.goes_ahead
    assert decided.decision is not None and decided.decision.arguments == {"order_id": "801", "amount": 250.0}
    assert decided.decision.decided_by == "U0APPROVER"


def test_request_approval_waits_for_the_decision_without_a_polling_loop_of_its_own(stack: Stack) -> None:
    client = _client(stack)
    thread, landed = _in_background(lambda: client.request_approval("refund", {"order_id": "802", "amount": 250.0}))

    stack.click("U0APPROVER", ActionId.APPROVE, stack.asked_over_the_api("802"))
    thread.join(30)

    [approval] = landed
    assert isinstance(approval, Approval) and approval.status == "approved"


def test_a_gated_function_runs_once_with_the_approved_arguments_and_its_result_is_audited(stack: Stack) -> None:
    client = _client(stack)
    ran: list[tuple[str, float]] = []

    @client.gated()
    def refund(order_id: str, amount: float) -> str:
        ran.append((order_id, amount))
        return f"Refunded ${amount:.2f} for order #{order_id}"

    thread, landed = _in_background(lambda: refund("803", 250.0))
    request = stack.asked_over_the_api("803")
    stack.click("U0APPROVER", ActionId.APPROVE, request)
    thread.join(30)

    assert landed == ["Refunded $250.00 for order #803"] and ran == [("803", 250.0)]
    results = [e for e in stack.store.audit_log.audit_events(request.id) if e.event == "api_result"]
    assert [e.detail.get("ok") for e in results] == [True]


def test_a_gated_function_runs_with_the_arguments_a_person_edited_in_slack(stack: Stack) -> None:
    client = _client(stack)
    ran: list[tuple[str, float]] = []
    schema = {"type": "object", "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}}}

    @client.gated(tool="refund", arguments_schema=schema)
    def refund(order_id: str, amount: float) -> str:
        ran.append((order_id, amount))
        return f"Refunded ${amount:.2f} for order #{order_id}"

    thread, landed = _in_background(lambda: refund("810", 250.0))
    request = stack.asked_over_the_api("810")
    view = stack.open_modal("U0APPROVER", ActionId.EDIT, request).response["view"]
    values = {
        BlockId.for_arg("order_id"): {ActionId.ARG_VALUE: plain_text_value("810")},
        BlockId.for_arg("amount"): {ActionId.ARG_VALUE: number_value("200")},
    }
    assert stack.driver.view_submission("U0APPROVER", view, values).status == 200
    thread.join(30)

    assert landed == ["Refunded $200.00 for order #810"] and ran == [("810", 200)]


def test_a_gated_function_a_person_rejects_never_runs_and_raises_their_reason(stack: Stack) -> None:
    client = _client(stack)
    ran: list[str] = []

    @client.gated(tool="refund")
    def refund_order(order_id: str, amount: float) -> str:
        ran.append(order_id)
        return "refunded"

    thread, landed = _in_background(lambda: refund_order("804", 250.0))
    stack.answer("U0APPROVER", ActionId.REJECT, stack.asked_over_the_api("804"), "Already refunded by hand.")
    thread.join(30)

    [error] = landed
    assert isinstance(error, Rejected) and error.reason == "Already refunded by hand."
    assert ran == []


def test_a_gated_function_can_return_the_reason_instead_of_raising(stack: Stack) -> None:
    client = _client(stack)

    @client.gated(tool="refund", on_reject="return")
    def refund_order(order_id: str, amount: float) -> str:
        return "refunded"

    thread, landed = _in_background(lambda: refund_order("805", 250.0))
    stack.answer("U0APPROVER", ActionId.REJECT, stack.asked_over_the_api("805"), "Not this one.")
    thread.join(30)

    assert landed == ["Not this one."]


def test_a_request_nobody_decides_expires_and_the_call_does_not_go_ahead(stack: Stack) -> None:
    client = _client(stack)

    # tests/policies.yml: a refund of $11 expires after 2 s.
    approval = client.request_approval("refund", {"order_id": "806", "amount": 11}, wait=30)

    assert approval.status == "expired" and not approval.goes_ahead
    assert approval.decision is not None and approval.decision.arguments is None


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_an_openai_agents_sdk_agent_runs_its_refund_only_when_a_person_approves_it_in_slack(stack: Stack, decision: str) -> None:
    client = _client(stack, agent="support")
    order = "807" if decision == "approve" else "808"
    model = ScriptedModel(
        [
            [function_call("refund", {"order_id": order, "amount": 250.0}, call_id=f"call-{order}")],
            [assistant_message("All done.")],
        ]
    )
    agent = refunds_agent(model)
    thread, landed = _in_background(lambda: asyncio.run(run_gated(agent, f"Refund order #{order} for $250", client)))

    request = stack.asked_over_the_api(order)
    if decision == "approve":
        stack.click("U0APPROVER", ActionId.APPROVE, request)
    else:
        stack.answer("U0APPROVER", ActionId.REJECT, request, "Refunds above $200 need a ticket.")
    thread.join(30)

    assert landed == ["All done."]
    told = str(model.calls[-1].input)  # what the model read on its second turn: the tool's output
    if decision == "approve":
        assert f"Refunded $250.00 for order #{order}" in told
    else:
        assert "Refunds above $200 need a ticket." in told and "Refunded" not in told


def test_a_bot_killed_after_storing_a_request_loses_nothing_and_the_same_key_finds_it(stack: Stack) -> None:
    client = _client(stack)
    arguments = {"order_id": "809", "amount": 250.0}
    # Slack holds the bot's post for 20 s: the request is stored, and the bot is still answering, when it dies.
    since = time.monotonic()
    stack.slack.rate_limit("chat.postMessage", times=1, retry_after=20, token=stack.bot_token)
    thread, landed = _in_background(lambda: client.ask("refund", arguments, idempotency_key="order-809"))
    stored = wait_until(lambda: stack.store.api_keys.asked_with("payments", "order-809"), 10, "the ask stored")
    wait_until(lambda: stack.store.lists.requests_for_thread(f"api-{stored.approval_id}"), 10, "the request stored")
    stack.slack.wait_for(
        "chat.postMessage",
        lambda call: call.time >= since and call.rate_limited and call.token == stack.bot_token,
        include_rate_limited=True,
    )  # the bot is waiting out Slack's answer

    stack.kill_bot()
    thread.join(30)
    stack.start_bot()
    again = client.ask("refund", arguments, idempotency_key="order-809")

    assert isinstance(landed[0], Exception)  # the first caller heard nothing back
    assert again.id == stored.approval_id and again.status == "pending"
    assert stack.posted(_posted(stack, again.id)) is not None
