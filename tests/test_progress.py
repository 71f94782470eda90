"""A run's steps appear as one progress message in its thread, updated as the run goes on."""

from __future__ import annotations

import sys
import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from approvals.frontend import RunProgressed
from approvals.models import ApprovalRequest, Run
from approvals.settings import Settings
from approvals.store import Store
from bot.ids import ActionId
from bot.outbound import SlackNotifier
from bot.run_messages import progress_text
from bot.slack_client import create_slack_client
from bot.slack_front_end import SlackFrontEnd
from bot.slack_places import Posted, SlackPlaces
from sandbox.emulator import Call, SlackEmulator
from tests.local import Local
from worker.progress import RunProgress, progress_steps


def _progress_post(local: Local, approval: ApprovalRequest) -> Call:
    return local.slack.wait_for(
        "chat.postMessage",
        lambda call: call.params.get("thread_ts") == local.ts_of(approval) and call.params["text"].startswith(":gear:"),
    )


def test_what_led_to_a_request_is_in_its_thread(local: Local) -> None:
    approval = local.start_run("Refund order #330 for $250", agent="payments_effects")

    text = _progress_post(local, approval).params["text"]

    assert text.startswith(":gear: *What the agent did so far*")
    assert '1. `lookup_order` `{"order_id": "330"}` :white_check_mark: Order #330: delivered, paid $500.00.' in text
    assert "2. `refund`" in text and "not run yet" in text


def test_the_progress_message_is_updated_with_what_the_approved_call_did(local: Local) -> None:
    approval = local.start_run("Refund order #331 for $250", agent="payments_effects")
    posted = _progress_post(local, approval)

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    update = local.slack.wait_for(
        "chat.update",
        lambda call: call.params.get("ts") == posted.response["ts"] and "Refunded $250.00" in call.params["text"],
        timeout=20,
    )
    assert (
        "2. `refund`" in update.params["text"] and ":white_check_mark: Refunded $250.00 for order #331" in update.params["text"]
    )
    assert (
        len(
            [
                c
                for c in local.slack.calls_to("chat.postMessage")
                if c.params["text"].startswith(":gear:") and c.params.get("thread_ts") == local.ts_of(approval)
            ]
        )
        == 1
    )


def test_an_agent_registered_without_progress_posts_none(local: Local) -> None:
    approval = local.start_run("Refund order #332 for $250", agent="payments_quiet")

    local.click("U0APPROVER", ActionId.APPROVE, approval)
    local.outcome(approval)

    thread = local.slack.thread_replies(approval.channel or "", local.ts_of(approval))
    assert not [m for m in thread if m["text"].startswith(":gear:")]


def test_the_progress_message_reads_no_run_it_follows_the_jobs_own(local: Local, monkeypatch: pytest.MonkeyPatch) -> None:
    read_by_progress: list[str] = []
    get_run = local.store.runs.get_run

    def counted(thread_id: str, conn: Any = None) -> Any:
        if sys._getframe(1).f_code.co_filename.endswith("progress.py"):
            read_by_progress.append(thread_id)
        return get_run(thread_id, conn)

    monkeypatch.setattr(local.store.runs, "get_run", counted)
    approval = local.start_run("Refund order #333 for $250", agent="payments_effects")
    local.click("U0APPROVER", ActionId.APPROVE, approval)

    local.slack.wait_for("chat.update", lambda call: "Refunded $250.00 for order #333" in str(call.params.get("text")))
    # Each job hands the progress the run it leased; the Slack front-end reads how the run stands (its Stop button).
    assert read_by_progress == []


def test_steps_in_a_jobs_first_second_wait_for_the_next_update_instead_of_calling_slack(
    empty_store: Store, slack: SlackEmulator, settings: Settings
) -> None:
    run = empty_store.runs.create_run(Run(thread_id=uuid.uuid4().hex, agent="payments", input_text="Refund order #334"))
    posted = create_slack_client(settings).chat_postMessage(channel="C0PROGRESS", text="the request")
    SlackPlaces(empty_store).keep_thread(run.thread_id, Posted("C0PROGRESS", str(posted["ts"])))
    now = [100.0]
    progress = RunProgress(
        empty_store,
        SlackFrontEnd(empty_store, SlackNotifier(create_slack_client(settings), "C0PROGRESS")),
        run,
        [HumanMessage("Refund order #334")],
        clock=lambda: now[0],
    )
    looked_up = AIMessage("", tool_calls=[{"name": "lookup_order", "args": {"order_id": "334"}, "id": "call-1"}])
    answered = ToolMessage("Order #334: delivered.", tool_call_id="call-1", name="lookup_order")

    now[0] = 100.5
    progress.on_step({"model": {"messages": [looked_up]}})
    assert _progress_posts(slack, posted) == []

    now[0] = 101.2
    progress.on_step({"tools": {"messages": [answered]}})
    assert len(shown := _progress_posts(slack, posted)) == 1
    assert "`lookup_order`" in shown[0] and "Order #334: delivered." in shown[0]


def _progress_posts(slack: SlackEmulator, request: Any) -> list[str]:
    return [
        str(call.params["text"])
        for call in slack.calls_to("chat.postMessage")
        if call.params.get("thread_ts") == request["ts"] and str(call.params.get("text", "")).startswith(":gear:")
    ]


def test_calls_that_share_an_id_each_show_their_own_result_in_the_progress_message() -> None:
    calls = [
        {"name": "refund", "args": {"order_id": order, "amount": amount}, "id": "call_refund"}
        for order, amount in (("751", 9000), ("752", 1))
    ]
    messages = [
        HumanMessage(content="Refund #751 for $9000 and #752 for $1"),
        AIMessage(content="Refunding 2 orders.", tool_calls=calls),
        ToolMessage(content="Refunded $9000.00 for order #751", tool_call_id="call_refund", name="refund"),
        ToolMessage(content="Refunded $1.00 for order #752", tool_call_id="call_refund", name="refund"),
    ]

    steps = progress_steps(messages)
    text = progress_text(RunProgressed(run=Run(thread_id="t", agent="payments", input_text=""), steps=steps, total=len(steps)))

    assert text.splitlines()[1:] == [
        '1. `refund` `{"order_id": "751", "amount": 9000}` :white_check_mark: Refunded $9000.00 for order #751',
        '2. `refund` `{"order_id": "752", "amount": 1}` :white_check_mark: Refunded $1.00 for order #752',
    ]
