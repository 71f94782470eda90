"""The sandbox's Slack client side: gestures become signed requests, and the app's answers are drawn
where Slack draws them. Fast: a small Bolt app over WSGI stands in for Countersign's bot here."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from sandbox import workspace
from sandbox.client import SandboxClient
from sandbox.driver import SlackDriver
from sandbox.emulator import SlackEmulator

SECRET = "sandbox-client-secret"
ME, SOMEONE = "U0SAM", "U0ALEX"
CHANNEL = workspace.APPROVALS_CHANNEL.id


def _modal(callback_id: str, title: str, *, notify_on_close: bool = False) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Send"},
        "notify_on_close": notify_on_close,
        "blocks": [
            {
                "type": "input",
                "block_id": "b",
                "label": {"type": "plain_text", "text": "Say"},
                "element": {"type": "plain_text_input", "action_id": "a"},
            },
            {
                "type": "actions",
                "elements": [{"type": "button", "action_id": "retitle", "text": {"type": "plain_text", "text": "Retitle"}}],
            },
        ],
    }


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator(users=workspace.users(), channels=workspace.channels()) as running:
        yield running


@pytest.fixture
def heard() -> list[dict[str, Any]]:
    """Every request the app received, as Bolt parsed it."""
    return []


@pytest.fixture
def client(emulator: SlackEmulator, heard: list[dict[str, Any]]) -> Iterator[SandboxClient]:
    """The sandbox client, acting on a small Bolt app that opens, pushes, updates and answers modals."""
    app = App(
        signing_secret=SECRET, client=WebClient(token="xoxb-t", base_url=emulator.base_url), token_verification_enabled=False
    )

    @app.command("/countersign")
    def command(ack: Ack, command: dict[str, Any]) -> None:
        heard.append(command)
        where = "in_channel" if "loud" in command["text"] else "ephemeral"
        ack(response_type=where, text=f"You said {command['text']}")

    @app.action("open")
    def open_modal(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_open(trigger_id=body["trigger_id"], view=_modal("first", "First", notify_on_close=True))

    @app.action("retitle")
    def retitle(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        client.views_update(view_id=body["view"]["id"], view=_modal("first", "Retitled"))

    @app.view("first")
    def submitted(ack: Ack, view: dict[str, Any]) -> None:
        said = view["state"]["values"]["b"]["a"]["value"]
        if said == "bad":
            ack(response_action="errors", errors={"b": "Not that"})
        elif said == "more":
            ack(response_action="push", view=_modal("second", "Second"))
        else:
            ack()

    @app.view("second")
    def second(ack: Ack) -> None:
        ack(response_action="clear")

    @app.view_closed("first")
    def closed(ack: Ack, body: dict[str, Any]) -> None:
        heard.append(body)
        ack()

    @app.action("ask")
    def ask(ack: Ack, respond: Respond) -> None:
        ack()
        respond(text="Answered through the response_url")

    server = make_server("127.0.0.1", 0, SlackRequestHandler(app), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    driver = SlackDriver(f"http://127.0.0.1:{server.server_port}/slack/events", SECRET)
    try:
        yield SandboxClient(emulator, driver)
    finally:
        server.shutdown()
        server.server_close()


def _message_with(emulator: SlackEmulator, action_id: str) -> str:
    posted = WebClient(token="xoxb-t", base_url=emulator.base_url).chat_postMessage(
        channel=CHANNEL,
        text="t",
        blocks=[
            {
                "type": "actions",
                "elements": [{"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": action_id}}],
            }
        ],
    )
    return str(posted["ts"])


def _open_first(client: SandboxClient, emulator: SlackEmulator) -> str:
    ts = _message_with(emulator, "open")
    client.act_on_message(ME, CHANNEL, ts, "open", None)
    emulator.wait_for("views.open")
    return emulator.modal_stack(ME)[0]["id"]


def _said(text: str) -> dict[str, Any]:
    return {"b": {"a": {"type": "plain_text_input", "value": text}}}


def test_a_slash_command_reply_is_shown_only_to_whoever_typed_it(client: SandboxClient, emulator: SlackEmulator) -> None:
    client.send(ME, CHANNEL, "/countersign hello")

    assert [m["text"] for m in emulator.ephemerals(CHANNEL, ME)] == ["You said hello"]
    assert emulator.messages(CHANNEL) == []


def test_an_in_channel_reply_is_posted_for_everyone(client: SandboxClient, emulator: SlackEmulator) -> None:
    client.send(ME, CHANNEL, "/countersign loud")

    assert [m["text"] for m in emulator.messages(CHANNEL)] == ["You said loud"]


def test_a_command_names_channels_and_people_as_slack_escapes_them(
    client: SandboxClient, emulator: SlackEmulator, heard: list[dict[str, Any]]
) -> None:
    client.send(ME, CHANNEL, "/countersign escalation payments #approvals 30m @alex")

    assert heard[-1]["text"] == "escalation payments <#C0APPROVALS|approvals> 30m <@U0ALEX|alex>"


def test_a_reply_to_a_click_through_the_response_url_is_shown_to_the_clicker(
    client: SandboxClient, emulator: SlackEmulator
) -> None:
    ts = _message_with(emulator, "ask")

    client.act_on_message(ME, CHANNEL, ts, "ask", None)

    emulator.wait_for("response_url")
    assert [m["text"] for m in emulator.ephemerals(CHANNEL, ME)] == ["Answered through the response_url"]


def test_a_modal_the_app_opens_after_a_click_appears_for_the_clicker_only(client: SandboxClient, emulator: SlackEmulator) -> None:
    _open_first(client, emulator)

    assert [v["title"]["text"] for v in emulator.modal_stack(ME)] == ["First"]
    assert emulator.modal_stack(SOMEONE) == []


def test_errors_in_the_answer_to_a_submission_keep_the_modal_open(client: SandboxClient, emulator: SlackEmulator) -> None:
    view_id = _open_first(client, emulator)

    outcome = client.submit(ME, view_id, _said("bad"))

    assert outcome.errors == {"b": "Not that"}
    assert [v["id"] for v in emulator.modal_stack(ME)] == [view_id]


def test_a_plain_acknowledgement_closes_the_submitted_modal(client: SandboxClient, emulator: SlackEmulator) -> None:
    view_id = _open_first(client, emulator)

    assert client.submit(ME, view_id, _said("fine")).ok

    assert emulator.modal_stack(ME) == []


def test_a_pushed_view_stacks_on_the_first_and_clear_closes_them_all(client: SandboxClient, emulator: SlackEmulator) -> None:
    view_id = _open_first(client, emulator)

    client.submit(ME, view_id, _said("more"))
    stacked = emulator.modal_stack(ME)
    client.submit(ME, stacked[-1]["id"], _said("done"))

    assert [v["title"]["text"] for v in stacked] == ["First", "Second"]
    assert stacked[1]["previous_view_id"] == view_id
    assert emulator.modal_stack(ME) == []


def test_the_app_updating_an_open_modal_redraws_it_in_place(client: SandboxClient, emulator: SlackEmulator) -> None:
    view_id = _open_first(client, emulator)

    client.act_on_view(ME, view_id, "retitle", None, values=_said("half typed"))

    emulator.wait_for("views.update")
    assert [(v["id"], v["title"]["text"]) for v in emulator.modal_stack(ME)] == [(view_id, "Retitled")]


def test_closing_a_modal_that_asked_to_hear_of_it_tells_the_app(
    client: SandboxClient, emulator: SlackEmulator, heard: list[dict[str, Any]]
) -> None:
    view_id = _open_first(client, emulator)

    client.close(ME, view_id)

    assert emulator.modal_stack(ME) == []
    assert heard[-1]["type"] == "view_closed" and heard[-1]["view"]["id"] == view_id


def test_the_sandbox_imports_nothing_of_countersigns_own_packages() -> None:
    # It plays Slack; anything it took from the app would let the app's bugs pass as Slack's behaviour.
    probe = (
        "import sys, sandbox.page, sandbox.workspace\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'approvals', 'bot', 'worker', 'countersign'}))"
    )
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout

    assert imported.strip() == "[]"
