"""Socket Mode: the real `countersign bot` process with SLACK_APP_TOKEN set opens Slack's websocket
(`apps.connections.open`, then the emulator's socket) and answers clicks, modals, slash commands and
events sent down it as envelopes, acking each; it reconnects when the socket is closed or refreshed, and
a click whose ack was lost with the socket is delivered again and still decides once."""

from __future__ import annotations

import json
import re
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from approvals.models import ApprovalRequest
from approvals.runs import RunRequest, start_run
from bot.ids import ActionId, BlockId
from bot.socket_mode import CountersignSocketModeHandler, SocketModeHealth
from sandbox.driver import Response, number_value, plain_text_value
from sandbox.emulator import SlackEmulator
from sandbox.socket_driver import DELIVERIES_HEADER, SocketModeDriver
from sandbox.socket_mode import Ack, SocketModeServer
from tests.local import Local
from tests.sandbox_stack import DevSandbox
from tests.socket_bot import APP_TOKEN, SocketBot
from tests.stack import Stack, wait_until


@pytest.fixture(scope="module")
def socket_bot(stack: Stack) -> Iterator[SocketBot]:
    bot = SocketBot(stack)
    bot.start()
    yield bot
    bot.stop()


def _edit_values(order_id: str, amount: str, reason: str) -> dict:
    return {
        BlockId.for_arg("order_id"): {ActionId.ARG_VALUE: plain_text_value(order_id)},
        BlockId.for_arg("amount"): {ActionId.ARG_VALUE: number_value(amount)},
        BlockId.for_arg("reason"): {ActionId.ARG_VALUE: plain_text_value(reason)},
    }


def _decided_rows(bot: SocketBot, approval: ApprovalRequest) -> list:
    return [event for event in bot.store.audit_log.audit_events(approval.id) if event.event == "decided"]


# ---------------------------------------------------------------------- the emulator's side


def test_apps_connections_open_answers_an_app_token_with_a_websocket_url(slack: SlackEmulator) -> None:
    answer = WebClient(base_url=slack.base_url).apps_connections_open(app_token=APP_TOKEN)

    assert answer["ok"] and answer["url"].startswith(f"ws://127.0.0.1:{slack.socket_mode.port}/")


def test_apps_connections_open_refuses_a_bot_token_as_slack_does(slack: SlackEmulator) -> None:
    with pytest.raises(SlackApiError) as refused:
        WebClient(base_url=slack.base_url).apps_connections_open(app_token="xoxb-not-an-app-token")

    assert refused.value.response["error"] == "not_allowed_token_type"


def test_an_envelope_left_unacked_is_delivered_again_with_its_retry_attempt_and_reason() -> None:
    server = SocketModeServer("127.0.0.1", "A0EMULATED", ack_timeout=0.2).start()
    try:
        with connect(server.open_url()) as app:
            hello = json.loads(app.recv(timeout=5))
            delivered: list[Ack] = []
            sender = threading.Thread(
                target=lambda: delivered.append(
                    server.deliver("events_api", {"type": "event_callback"}, accepts_response_payload=False)
                )
            )
            sender.start()
            first, again = json.loads(app.recv(timeout=5)), json.loads(app.recv(timeout=5))
            app.send(json.dumps({"envelope_id": again["envelope_id"]}))
            sender.join(5)
    finally:
        server.stop()

    assert hello["type"] == "hello" and hello["connection_info"] == {"app_id": "A0EMULATED"}
    assert (first["retry_attempt"], first["retry_reason"]) == (0, "")
    assert (again["retry_attempt"], again["retry_reason"]) == (1, "timeout")
    assert again["envelope_id"] == first["envelope_id"] and again["payload"] == first["payload"]
    assert delivered[0].acked and delivered[0].deliveries == 2


def test_each_payload_arrives_in_the_envelope_slack_uses_for_it() -> None:
    server = SocketModeServer("127.0.0.1", "A0EMULATED").start()
    driver = SocketModeDriver(server, timeout=5)
    envelopes: list[dict] = []
    try:
        with connect(server.open_url()) as app:
            app.recv(timeout=5)  # hello

            def ack_each() -> None:
                for _ in range(4):
                    envelope = json.loads(app.recv(timeout=5))
                    envelopes.append(envelope)
                    app.send(json.dumps({"envelope_id": envelope["envelope_id"]}))

            acker = threading.Thread(target=ack_each)
            acker.start()
            driver.block_action("U0ENVELOPE", "approve", "v", channel_id="C0X", container_message_ts="1.000001")
            driver.view_submission("U0ENVELOPE", {"id": "V0X", "callback_id": "edit"}, {})
            driver.slash_command("U0ENVELOPE", "/countersign", "help")
            driver.event({"type": "app_home_opened", "user": "U0ENVELOPE", "tab": "home"})
            acker.join(5)
    finally:
        server.stop()

    shapes = [
        (e["type"], e["accepts_response_payload"], e["payload"].get("type") or e["payload"].get("command")) for e in envelopes
    ]
    assert shapes == [
        ("interactive", False, "block_actions"),
        ("interactive", True, "view_submission"),
        ("slash_commands", True, "/countersign"),
        ("events_api", False, "event_callback"),
    ]


def test_a_connection_with_a_ticket_slack_did_not_issue_is_closed() -> None:
    server = SocketModeServer("127.0.0.1", "A0EMULATED").start()
    try:
        with connect(f"ws://127.0.0.1:{server.port}/link/?ticket=forged") as app, pytest.raises(ConnectionClosed):
            app.recv(timeout=5)
    finally:
        server.stop()


# ---------------------------------------------------------------------- the approval loop over the socket


def test_approve_over_socket_mode_is_acked_and_runs_the_tool(socket_bot: SocketBot) -> None:
    approval = socket_bot.start_run("Refund order #5101 for $250")

    response = socket_bot.click("U0SOCKAPPROVER", ActionId.APPROVE, approval)

    assert response.status == 200
    assert "Refunded $250.00 for order #5101" in socket_bot.outcome(approval)
    assert len(_decided_rows(socket_bot, approval)) == 1


def test_edit_over_socket_mode_opens_the_modal_shows_an_inline_error_then_runs_the_edit(socket_bot: SocketBot) -> None:
    approval = socket_bot.start_run("Refund order #5102 for $250")
    view = socket_bot.open_modal("U0SOCKEDITOR", ActionId.EDIT, approval).response["view"]

    refused = socket_bot.driver.view_submission("U0SOCKEDITOR", view, _edit_values("5102", "a lot", "partial"))
    accepted = socket_bot.driver.view_submission("U0SOCKEDITOR", view, _edit_values("5102", "100", "partial refund"))

    assert refused.json() == {"response_action": "errors", "errors": {BlockId.for_arg("amount"): "Enter a number."}}
    assert accepted.status == 200
    assert "Refunded $100.00 for order #5102" in socket_bot.outcome(approval)


def test_reject_with_a_reason_over_socket_mode_tells_the_agent_why(socket_bot: SocketBot) -> None:
    approval = socket_bot.start_run("Refund order #5103 for $250")

    response = socket_bot.answer("U0SOCKREJECTER", ActionId.REJECT, approval, "The bank already refunded it")

    assert response.status == 200
    outcome = socket_bot.outcome(approval)
    assert "I did not refund order #5103" in outcome and "The bank already refunded it" in outcome


def test_slash_command_over_socket_mode_starts_a_run_and_acks_the_reply(socket_bot: SocketBot) -> None:
    answer = socket_bot.slash("U0SOCKSTARTER", "run payments Refund order #5104 for $250")

    assert answer.startswith("Started `payments`")
    wait_until(
        lambda: [r for r in socket_bot.store.lists.pending(limit=500) if r.action.args.get("order_id") == "5104"],
        30,
        "the run's request",
    )


def test_home_tab_over_socket_mode_lists_the_request(socket_bot: SocketBot) -> None:
    approval = socket_bot.start_run("Refund order #5105 for $250", user="U0SOCKASKER")

    home = socket_bot.home_showing("U0SOCKHOMER", approval.id)

    assert approval.id in str(home["blocks"])


def test_clicks_over_socket_mode_are_counted_and_timed_in_the_bots_metrics(socket_bot: SocketBot) -> None:
    approval = socket_bot.start_run("Refund order #5109 for $250")

    socket_bot.click("U0SOCKMETRICS", ActionId.APPROVE, approval)

    scraped = socket_bot.scrape()
    assert re.search(r'^countersign_bot_requests_total\{kind="block_actions"\} [1-9]', scraped, re.MULTILINE)
    assert re.search(r'^countersign_bot_ack_seconds_count\{kind="block_actions"\} [1-9]', scraped, re.MULTILINE)


def test_the_socket_mode_bots_health_check_is_ok_while_it_is_connected(socket_bot: SocketBot) -> None:
    assert socket_bot.health() == (200, "ok")


def test_a_socket_mode_bot_not_connected_fails_its_health_check(local: Local) -> None:
    health = SocketModeHealth(CountersignSocketModeHandler(local.app, APP_TOKEN))  # never connected

    assert _get(health, "/healthz") == ("503 Service Unavailable", "not connected to Slack's Socket Mode")


def test_a_socket_mode_bot_whose_token_slack_refuses_fails_its_health_check(local: Local) -> None:
    health = SocketModeHealth(CountersignSocketModeHandler(local.app, APP_TOKEN))
    local.slack.fail("auth.test", "token_revoked", token=local.bot_token)

    assert _get(health, "/healthz") == ("503 Service Unavailable", "slack refuses the app's token: token_revoked")
    # Once Slack takes the token again, the check says what else is wrong (this handler never connected).
    assert _get(health, "/healthz") == ("503 Service Unavailable", "not connected to Slack's Socket Mode")


def _get(app: SocketModeHealth, path: str) -> tuple[str, str]:
    status: list[str] = []
    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": "GET"}, lambda line, _headers: status.append(line)))
    return status[0], body.decode()


# ---------------------------------------------------------------------- reconnecting


def test_the_bot_reconnects_when_slack_asks_it_to_refresh_and_answers_on_the_new_connection(socket_bot: SocketBot) -> None:
    connected = socket_bot.socket.connections_opened
    socket_bot.socket.refresh()
    socket_bot.wait_for_connection(connected + 1)
    approval = socket_bot.start_run("Refund order #5106 for $250")

    response = socket_bot.click("U0SOCKREFRESH", ActionId.APPROVE, approval)

    assert response.status == 200
    assert "Refunded $250.00 for order #5106" in socket_bot.outcome(approval)


def test_the_bot_reconnects_when_slack_closes_the_socket(socket_bot: SocketBot) -> None:
    connected = socket_bot.socket.connections_opened
    socket_bot.socket.drop()
    socket_bot.wait_for_connection(connected + 1)

    assert socket_bot.slash("U0SOCKCLOSED", "help")


@pytest.mark.slow
def test_the_bot_reconnects_after_its_socket_is_cut_without_a_close_frame(socket_bot: SocketBot) -> None:
    connected = socket_bot.socket.connections_opened
    socket_bot.socket.drop(abruptly=True)
    # A network failure: the bot notices it by its pings going unanswered (a few of its 2 s checks).
    socket_bot.wait_for_connection(connected + 1, timeout=40)
    approval = socket_bot.start_run("Refund order #5108 for $250")

    assert socket_bot.click("U0SOCKCUT", ActionId.APPROVE, approval).status == 200
    assert "Refunded $250.00 for order #5108" in socket_bot.outcome(approval)


def test_a_click_whose_ack_was_lost_is_delivered_again_and_decides_once(socket_bot: SocketBot) -> None:
    approval = socket_bot.start_run("Refund order #5107 for $250")
    socket_bot.socket.lose_acks(1)

    response = socket_bot.click("U0SOCKLOSTACK", ActionId.APPROVE, approval)

    assert response.status == 200 and response.headers[DELIVERIES_HEADER] == "2"
    assert "Refunded $250.00 for order #5107" in socket_bot.outcome(approval)
    assert len(_decided_rows(socket_bot, approval)) == 1
    # Slack's retry is not the person's second click: they are told nothing about it.
    with pytest.raises(TimeoutError):
        socket_bot.slack.wait_for("chat.postEphemeral", lambda call: call.params.get("user") == "U0SOCKLOSTACK", timeout=3)


def _start_runs(bot: SocketBot, orders: range) -> list[ApprovalRequest]:
    requests = []
    for order in orders:
        request = RunRequest(agent="payments", input_text=f"Refund order #{order} for $250", requested_by="U0SOCKBURST")
        start_run(request, bot.store, bot.queue)
        requests.append(request)
    return [bot.wait_for_request(request.thread_id, timeout=60) for request in requests]


@pytest.mark.slow
def test_a_socket_closed_mid_burst_loses_no_click_and_decides_each_request_once(socket_bot: SocketBot) -> None:
    approvals = _start_runs(socket_bot, range(5120, 5140))
    connected = socket_bot.socket.connections_opened
    responses: dict[str, Response] = {}

    def click(approval: ApprovalRequest) -> None:
        responses[approval.id] = socket_bot.click(f"U0BURST{uuid.uuid4().hex[:6].upper()}", ActionId.APPROVE, approval)

    clicks = [threading.Thread(target=click, args=(approval,)) for approval in approvals]
    for thread in clicks:
        thread.start()
    # Mid-burst: some clicks decided (and acked, or their acks on the way), the rest not yet delivered.
    wait_until(lambda: any(not socket_bot.store.requests.get(a.id).is_pending for a in approvals), 30, "a first decision")
    socket_bot.socket.drop()
    for thread in clicks:
        thread.join(60)

    socket_bot.wait_for_connection(connected + 1)
    assert all(responses[a.id].status == 200 for a in approvals), "every click is acked, after redelivery if need be"
    # The socket closed with clicks unacked (or their acks on the way): they were delivered again.
    assert any(int(responses[a.id].headers[DELIVERIES_HEADER]) > 1 for a in approvals)
    for approval in approvals:
        assert socket_bot.store.requests.get(approval.id).status == "approved"
        assert len(_decided_rows(socket_bot, approval)) == 1, f"request {approval.id} decided once"


# ---------------------------------------------------------------------- the sandbox over Socket Mode


def _gesture(sandbox: DevSandbox, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        sandbox.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _request_message(sandbox: DevSandbox, order: str) -> dict | None:
    for channel in sandbox.state()["channels"]:
        for message in channel["messages"]:
            buttons = [e for b in message.get("blocks", []) if b.get("type") == "actions" for e in b["elements"]]
            approve = [e for e in buttons if e.get("action_id") == ActionId.APPROVE]
            if f"order #{order}" in json.dumps(message) and approve:
                return {"channel": channel["id"], "ts": message["ts"], "value": approve[0]["value"]}
    return None


@pytest.mark.slow
def test_countersign_dev_socket_mode_plays_slack_for_the_bot_down_its_websocket(tmp_path: Path) -> None:
    with DevSandbox.start(tmp_path, "--socket-mode") as sandbox:
        sandbox.wait_ready()
        command = "/countersign run payments Refund order #42 for $250"
        started = _gesture(sandbox, "api/send", {"user": "U0SAM", "channel": "C0APPROVALS", "text": command})
        message = wait_until(lambda: _request_message(sandbox, "42"), 60, "the request in the sandbox")
        request = wait_until(lambda: next(iter(sandbox.store.lists.pending(limit=1)), None), 30, "the request stored")
        approved = _gesture(sandbox, "api/act", {"user": "U0ALEX", "action_id": ActionId.APPROVE, **message})

        assert started["ok"] and approved["ok"], (started, approved)
        assert "over Socket Mode" in json.dumps(sandbox.state()["sandbox"]["notes"])
        assert any("Refunded $250.00 for order #42" in result for result in sandbox.tool_results(request.thread_id))
