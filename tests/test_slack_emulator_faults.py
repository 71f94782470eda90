"""The emulator answers as a real workspace does when things go wrong: Slack down (5xx), a connection closed without
an answer, the app taken out of a channel, a channel archived or deleted, a message deleted."""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.emulator import BOT_USER_ID, Channel, SlackEmulator


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=[Channel("C0ROOM", "room", members=("U1",))]) as slack:
        yield slack


@pytest.fixture
def client(emulator: SlackEmulator) -> WebClient:
    return WebClient(token="xoxb-test", base_url=emulator.base_url)  # slack_sdk's default: one retry of a reset


def _refusal(call: Callable[[], object]) -> str:
    with pytest.raises(SlackApiError) as refused:
        call()
    return str(refused.value.response["error"])


def test_a_5xx_failure_answers_with_its_status(emulator: SlackEmulator, client: WebClient) -> None:
    emulator.fail("chat.postMessage", "service_unavailable", status=503)

    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C0ROOM", text="hi")

    assert refused.value.response.status_code == 503 and refused.value.response["error"] == "service_unavailable"
    assert client.chat_postMessage(channel="C0ROOM", text="hi")["ok"]


def test_a_dropped_call_closes_the_connection_without_an_answer(emulator: SlackEmulator, client: WebClient) -> None:
    emulator.drop("chat.postMessage", times=2)

    with pytest.raises(http.client.RemoteDisconnected):
        client.chat_postMessage(channel="C0ROOM", text="hi")

    assert [c.response for c in emulator.calls_to("chat.postMessage")] == [{"ok": False, "error": "connection_closed"}] * 2


def test_a_fault_for_one_channel_leaves_posts_to_another_alone(emulator: SlackEmulator, client: WebClient) -> None:
    emulator.fail("chat.postMessage", "is_archived", channel="C0ELSEWHERE")

    assert client.chat_postMessage(channel="C0ROOM", text="hi")["ok"]
    assert _refusal(lambda: client.chat_postMessage(channel="C0ELSEWHERE", text="hi")) == "is_archived"


def test_posting_where_the_app_is_not_is_refused_as_slack_does(emulator: SlackEmulator, client: WebClient) -> None:
    emulator.add_channel(Channel("C0SECRET", "secret", members=("U1",), private=True))
    emulator.leave("C0ROOM", BOT_USER_ID)
    emulator.leave("C0SECRET", BOT_USER_ID)

    assert _refusal(lambda: client.chat_postMessage(channel="C0ROOM", text="hi")) == "not_in_channel"
    assert _refusal(lambda: client.chat_postMessage(channel="C0SECRET", text="hi")) == "channel_not_found"
    emulator.join("C0ROOM", BOT_USER_ID)
    assert client.chat_postMessage(channel="C0ROOM", text="hi")["ok"]


def test_an_archived_or_deleted_channel_takes_no_posts_nor_updates(emulator: SlackEmulator, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C0ROOM", text="hi")["ts"]
    emulator.archive("C0ROOM")

    assert _refusal(lambda: client.chat_postMessage(channel="C0ROOM", text="again")) == "is_archived"
    assert _refusal(lambda: client.chat_update(channel="C0ROOM", ts=ts, text="changed")) == "is_archived"
    emulator.delete_channel("C0ROOM")
    assert _refusal(lambda: client.chat_postMessage(channel="C0ROOM", text="again")) == "channel_not_found"


def test_a_deleted_message_cannot_be_updated_and_its_thread_stays(emulator: SlackEmulator, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C0ROOM", text="hi")["ts"]
    client.chat_postMessage(channel="C0ROOM", text="reply", thread_ts=ts)

    emulator.delete_message("C0ROOM", ts)

    assert _refusal(lambda: client.chat_update(channel="C0ROOM", ts=ts, text="changed")) == "message_not_found"
    assert [m["text"] for m in emulator.thread_replies("C0ROOM", ts)] == ["reply"]
    assert client.chat_postMessage(channel="C0ROOM", text="more", thread_ts=ts)["ok"]


def test_chat_delete_deletes_the_apps_message(emulator: SlackEmulator, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C0ROOM", text="hi")["ts"]

    assert client.chat_delete(channel="C0ROOM", ts=ts)["ok"]

    assert [m["ts"] for m in emulator.messages("C0ROOM")] == []
    assert _refusal(lambda: client.chat_delete(channel="C0ROOM", ts=ts)) == "message_not_found"
