"""Tests for the Slack emulator and driver, through the real slack_sdk / slack_bolt stacks."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from sandbox.driver import SlackDriver, plain_text_value
from sandbox.emulator import BOT_USER_ID, Channel, SlackEmulator

SIGNING_SECRET = "test-signing-secret"


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emu:
        yield emu


@pytest.fixture
def client(emulator: SlackEmulator) -> WebClient:
    return WebClient(token="xoxb-test", base_url=emulator.base_url)


def test_post_update_then_replies_shows_update(emulator: SlackEmulator, client: WebClient) -> None:
    blocks = [{"type": "section", "block_id": "s1", "text": {"type": "mrkdwn", "text": "Approve?"}}]
    posted = client.chat_postMessage(channel="C1", text="Approve?", blocks=blocks)
    ts = posted["ts"]
    assert posted["channel"] == "C1" and posted["message"]["blocks"] == blocks

    reply = client.chat_postMessage(channel="C1", text="a reply", thread_ts=ts)
    assert float(reply["ts"]) > float(ts)

    updated = client.chat_update(channel="C1", ts=ts, text="Approved", blocks=[])
    assert updated["ts"] == ts and updated["text"] == "Approved"

    messages = client.conversations_replies(channel="C1", ts=ts)["messages"]
    assert [m["ts"] for m in messages] == [ts, reply["ts"]]
    assert messages[0]["text"] == "Approved" and messages[0]["blocks"] == []
    assert messages[0]["reply_count"] == 1
    assert emulator.thread_replies("C1", ts)[0]["text"] == "a reply"
    assert emulator.wait_for("chat.postMessage").params["blocks"] == blocks

    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts="1.000000", text="x")
    assert err.value.response["error"] == "message_not_found"


def test_a_latency_set_on_the_emulator_holds_each_call_without_holding_the_others(
    emulator: SlackEmulator, client: WebClient
) -> None:
    emulator.latency = 0.2
    took: list[float] = []

    def post() -> None:
        started = time.monotonic()
        client.chat_postMessage(channel="C1", text="Approve?")
        took.append(time.monotonic() - started)

    started = time.monotonic()
    posts = [threading.Thread(target=post) for _ in range(5)]
    for thread in posts:
        thread.start()
    for thread in posts:
        thread.join()

    assert len(took) == 5 and min(took) >= 0.2  # each call waited as Slack's own would
    assert time.monotonic() - started < 0.2 * 5  # side by side, not one after another


def test_form_encoded_json_fields_are_decoded(emulator: SlackEmulator, client: WebClient) -> None:
    blocks = [{"type": "divider"}]
    client.api_call("chat.postMessage", params={"channel": "C1", "blocks": json.dumps(blocks)})
    assert emulator.calls_to("chat.postMessage")[0].params["blocks"] == blocks
    assert emulator.messages("C1")[0]["blocks"] == blocks


def test_views_open_trigger_id_is_single_use(emulator: SlackEmulator, client: WebClient) -> None:
    view = {"type": "modal", "callback_id": "cb", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
    first = client.views_open(trigger_id="1.2.abc", view=view)
    assert first["view"]["id"].startswith("V") and first["view"]["callback_id"] == "cb"
    assert first["view"]["state"] == {"values": {}}

    with pytest.raises(SlackApiError) as err:
        client.views_open(trigger_id="1.2.abc", view=view)
    assert err.value.response["error"] == "expired_trigger_id"

    second = client.views_open(trigger_id="1.2.def", view=view)
    assert second["view"]["id"] != first["view"]["id"]


def test_rate_limited_call_is_retried(emulator: SlackEmulator) -> None:
    # retry_after=0 keeps the handler's sleep under a second.
    emulator.rate_limit("chat.postMessage", times=1, retry_after=0)
    client = WebClient(
        token="xoxb-test",
        base_url=emulator.base_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    assert client.chat_postMessage(channel="C1", text="hi")["ok"]
    attempts = emulator.calls_to("chat.postMessage")
    assert [c.rate_limited for c in attempts] == [True, False]
    assert len(emulator.messages("C1")) == 1


def test_rate_limit_answers_429_with_retry_after(emulator: SlackEmulator) -> None:
    emulator.rate_limit("auth.test", retry_after=7)
    request = urllib.request.Request(emulator.base_url + "auth.test", headers={"Authorization": "Bearer xoxb-t"}, method="GET")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as err:
        opener.open(request, timeout=5)
    assert err.value.code == 429 and err.value.headers["Retry-After"] == "7"
    assert json.loads(err.value.read()) == {"ok": False, "error": "ratelimited"}
    with opener.open(request, timeout=5) as resp:
        assert json.loads(resp.read())["user_id"] == "U0BOT"


def test_posting_past_slacks_limit_in_a_channel_is_answered_429_and_other_channels_post_on(emulator: SlackEmulator) -> None:
    emulator.posts_a_second, emulator.posting_burst = 0.5, 2
    client = WebClient(token="xoxb-test", base_url=emulator.base_url)

    assert [client.chat_postMessage(channel="C1", text=f"burst {n}")["ok"] for n in range(2)] == [True, True]
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C1", text="one too many")

    assert limited.value.response.status_code == 429 and limited.value.response.headers["Retry-After"] == "1"
    assert client.chat_postMessage(channel="C2", text="elsewhere")["ok"]
    assert [m["text"] for m in emulator.messages("C1")] == ["burst 0", "burst 1"]


def test_history_reads_a_channels_own_messages_since_oldest_newest_first_with_metadata_when_asked(
    emulator: SlackEmulator, client: WebClient
) -> None:
    before = client.chat_postMessage(channel="C1", text="before")
    tagged = {"event_type": "tagged", "event_payload": {"n": 1}}
    first = client.chat_postMessage(channel="C1", text="first", metadata=tagged)
    client.chat_postMessage(channel="C1", thread_ts=first["ts"], text="a reply")
    client.chat_postMessage(channel="C1", text="second")

    read = client.conversations_history(channel="C1", oldest=before["ts"], include_all_metadata=True)
    plain = client.conversations_history(channel="C1", oldest=before["ts"])

    assert [m["text"] for m in read["messages"]] == ["second", "first"]
    assert read["messages"][1]["metadata"] == tagged and "metadata" not in plain["messages"][1]


def test_faults_set_for_one_token_leave_the_calls_of_another_alone(emulator: SlackEmulator) -> None:
    emulator.rate_limit("chat.postMessage", retry_after=0, token="xoxb-mine")
    emulator.fail("chat.postMessage", "internal_error", token="xoxb-mine")
    theirs = WebClient(token="xoxb-theirs", base_url=emulator.base_url)
    mine = WebClient(token="xoxb-mine", base_url=emulator.base_url)

    assert theirs.chat_postMessage(channel="C1", text="theirs")["ok"]
    with pytest.raises(SlackApiError) as limited:
        mine.chat_postMessage(channel="C1", text="mine")
    assert limited.value.response.status_code == 429
    with pytest.raises(SlackApiError) as failed:
        mine.chat_postMessage(channel="C1", text="mine")
    assert failed.value.response["error"] == "internal_error"
    assert mine.chat_postMessage(channel="C1", text="mine")["ok"]


def test_auth_and_unknown_method_and_wait_for_timeout(emulator: SlackEmulator, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=emulator.base_url).api_call("auth.test")
    assert err.value.response["error"] == "not_authed"

    with pytest.raises(SlackApiError) as err:
        client.api_call("no.such.method")
    assert err.value.response["error"] == "unknown_method"
    assert emulator.calls_to("no.such.method")

    with pytest.raises(TimeoutError, match=r"chat\.postMessage"):
        emulator.wait_for("chat.postMessage", timeout=0.05)


def test_wait_for_wakes_on_a_call_from_another_thread(emulator: SlackEmulator, client: WebClient) -> None:
    threading.Timer(0.1, lambda: client.chat_postMessage(channel="C9", text="later")).start()
    call = emulator.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C9", timeout=5)
    assert call.response is not None and call.response["ok"]


# ---------------------------------------------------------------------- Slack's limits


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _refusal(call: Callable[[], object]) -> dict:
    with pytest.raises(SlackApiError) as err:
        call()
    return err.value.response.data


def test_a_message_of_51_blocks_is_refused_as_invalid_blocks(emulator: SlackEmulator, client: WebClient) -> None:
    refusal = _refusal(lambda: client.chat_postMessage(channel="C1", text="t", blocks=[{"type": "divider"}] * 51))

    assert refusal["error"] == "invalid_blocks"
    assert refusal["response_metadata"]["messages"] == ["[ERROR] no more than 50 items allowed [json-pointer:/blocks]"]
    assert emulator.messages("C1") == []


def test_section_text_over_3000_characters_is_refused_in_updates_too(emulator: SlackEmulator, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="t", blocks=[_section("fine")])["ts"]

    refusal = _refusal(lambda: client.chat_update(channel="C1", ts=ts, text="t", blocks=[_section("x" * 3001)]))

    assert refusal["error"] == "invalid_blocks"
    assert "cannot exceed 3000 characters [json-pointer:/blocks/0]" in refusal["errors"][0]
    assert emulator.message("C1", ts)["blocks"] == [_section("fine")]


def test_a_block_type_slack_does_not_know_is_refused(client: WebClient) -> None:
    refusal = _refusal(lambda: client.chat_postEphemeral(channel="C1", user="U1", text="t", blocks=[{"type": "banner"}]))

    assert refusal["error"] == "invalid_blocks"


def test_a_modal_over_100_blocks_or_with_a_long_title_is_refused(client: WebClient) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Fine"}, "blocks": [{"type": "divider"}] * 101}
    long_title = {**modal, "title": {"type": "plain_text", "text": "A title of 25 characters!"}, "blocks": []}

    assert _refusal(lambda: client.views_open(trigger_id="1.1.a", view=modal))["error"] == "invalid_arguments"
    refusal = _refusal(lambda: client.views_open(trigger_id="1.1.b", view=long_title))
    assert refusal["errors"] == ["title must be between 1 and 24 characters [json-pointer:/view]"]


def test_a_home_tab_over_100_blocks_is_refused(emulator: SlackEmulator, client: WebClient) -> None:
    home = {"type": "home", "blocks": [_section("row")] * 101}

    assert _refusal(lambda: client.views_publish(user_id="U1", view=home))["error"] == "invalid_arguments"
    with pytest.raises(KeyError):
        emulator.home_view("U1")


# ---------------------------------------------------------------------- driver against a Bolt app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def bolt_app(emulator: SlackEmulator) -> Iterator[tuple[str, list[dict]]]:
    """A tiny Bolt app over WSGI; yields (events url, list of action bodies seen)."""
    seen: list[dict] = []
    app = App(
        signing_secret=SIGNING_SECRET,
        token="xoxb-x",
        token_verification_enabled=False,
        client=WebClient(token="xoxb-x", base_url=emulator.base_url),
    )

    @app.action("ping")
    def ping(ack, body) -> None:  # type: ignore[no-untyped-def]
        seen.append(body)  # before ack: Bolt answers HTTP as soon as ack() runs
        ack()

    @app.view("form")
    def form(ack, view) -> None:  # type: ignore[no-untyped-def]
        seen.append(view)
        ack()

    server: WSGIServer = make_server("127.0.0.1", 0, SlackRequestHandler(app), handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/slack/events", seen
    finally:
        server.shutdown()
        server.server_close()


def test_driver_signing(bolt_app: tuple[str, list[dict]], emulator: SlackEmulator) -> None:
    url, seen = bolt_app
    driver = SlackDriver(url, SIGNING_SECRET, response_url=emulator.response_url())
    kwargs = {"channel_id": "C1", "container_message_ts": "1700000000.000100"}

    ok = driver.block_action("U1", "ping", "v", **kwargs)
    assert ok.status == 200, ok.body
    assert seen and seen[0]["actions"][0]["value"] == "v" and seen[0]["user"]["id"] == "U1"

    forged = driver.block_action("U1", "ping", "v", signature="v0=" + "0" * 64, **kwargs)
    assert forged.status == 401

    stale = driver.block_action("U1", "ping", "v", timestamp=int(time.time()) - 600, **kwargs)
    assert stale.status == 401

    assert len(seen) == 1


def test_a_request_held_before_sending_is_timed_from_when_it_is_sent(bolt_app: tuple[str, list[dict]]) -> None:
    url, seen = bolt_app
    before, held = len(seen), []

    def hold() -> None:
        held.append(len(seen))  # built and signed, not yet sent
        time.sleep(0.3)

    clicked = SlackDriver(url, SIGNING_SECRET).block_action(
        "U1", "ping", "v", channel_id="C1", container_message_ts="1700000000.000100", before_send=hold
    )

    assert clicked.status == 200, clicked.body
    assert held == [before] and len(seen) == before + 1
    assert clicked.elapsed < 0.3


def test_driver_view_submission_round_trip(bolt_app: tuple[str, list[dict]], emulator: SlackEmulator, client: WebClient) -> None:
    url, seen = bolt_app
    view = {
        "type": "modal",
        "callback_id": "form",
        "private_metadata": "req-1",
        "title": {"type": "plain_text", "text": "T"},
        "blocks": [],
    }
    client.views_open(trigger_id="t-1", view=view)
    opened = emulator.wait_for("views.open")

    resp = SlackDriver(url, SIGNING_SECRET).view_submission("U1", opened, {"b": {"a": plain_text_value("why")}})
    assert resp.status == 200, resp.body
    submitted = seen[-1]
    assert submitted["private_metadata"] == "req-1" and submitted["id"] == opened.response["view"]["id"]
    assert submitted["state"]["values"]["b"]["a"]["value"] == "why"


def test_a_watcher_reads_only_the_calls_after_its_place(emulator: SlackEmulator, client: WebClient) -> None:
    client.chat_postMessage(channel="C0EMU", text="first")
    place = len(emulator.calls)
    client.chat_postMessage(channel="C0EMU", text="second")

    assert [call.params["text"] for call in emulator.calls_since(place)] == ["second"]


def test_conversations_members_lists_a_channel_page_by_page_with_the_app_among_them(
    emulator: SlackEmulator, client: WebClient
) -> None:
    emulator.add_channel(Channel("C0PAGED", "paged", members=("U1", "U2", "U3")))

    first = client.conversations_members(channel="C0PAGED", limit=3)
    rest = client.conversations_members(channel="C0PAGED", limit=3, cursor=first["response_metadata"]["next_cursor"])

    assert first["members"] == [BOT_USER_ID, "U1", "U2"]
    assert rest["members"] == ["U3"] and rest["response_metadata"]["next_cursor"] == ""


def test_conversations_replies_returns_a_messages_metadata_only_when_asked_for_all_of_it(client: WebClient) -> None:
    root = client.chat_postMessage(channel="C1", text="a request")["ts"]
    metadata = {"event_type": "run_ended", "event_payload": {"thread_id": "t-1"}}
    client.chat_postMessage(channel="C1", thread_ts=root, text="it ended", metadata=metadata)

    plain = client.conversations_replies(channel="C1", ts=root)["messages"]
    with_metadata = client.conversations_replies(channel="C1", ts=root, include_all_metadata=True)["messages"]

    assert [m.get("metadata") for m in plain] == [None, None]
    assert [m.get("metadata") for m in with_metadata] == [None, metadata]


def test_conversations_replies_pages_a_thread_by_its_cursor(client: WebClient) -> None:
    root = client.chat_postMessage(channel="C1", text="a request")["ts"]
    replies = [client.chat_postMessage(channel="C1", thread_ts=root, text=f"reply {n}")["ts"] for n in range(3)]

    first = client.conversations_replies(channel="C1", ts=root, limit=2)
    rest = client.conversations_replies(channel="C1", ts=root, limit=2, cursor=first["response_metadata"]["next_cursor"])

    assert [m["ts"] for m in first["messages"]] == [root, replies[0]] and first["has_more"]
    assert [m["ts"] for m in rest["messages"]] == replies[1:] and rest["response_metadata"]["next_cursor"] == ""


def test_post_message_refuses_metadata_without_an_event_type_as_slack_does(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C1", text="it ended", metadata={"event_payload": {}})

    assert refused.value.response["error"] == "invalid_metadata_format"


def test_an_everyone_channel_holds_whoever_the_driver_acted_as(emulator: SlackEmulator, client: WebClient) -> None:
    emulator.add_channel(Channel("C0GENERAL", "general", everyone=True))
    # No app behind this URL (the emulator answers 404): what counts is that the driver acted as someone.
    nowhere = f"http://127.0.0.1:{emulator.port}/slack/events"
    driver = SlackDriver(nowhere, SIGNING_SECRET, acting_as=emulator.add_member)

    driver.slash_command("U0SOMEBODY", "/countersign", "help")

    assert "U0SOMEBODY" in client.conversations_members(channel="C0GENERAL")["members"]


@pytest.mark.parametrize(
    ("channel", "error"),
    [
        (None, "channel_not_found"),  # a channel the workspace does not have
        (Channel("C0SECRET", "secret", members=("U1",), private=True), "channel_not_found"),  # private, app not in it
        (Channel("C0PUBLIC", "public", members=("U1",)), "not_in_channel"),  # the app was taken out of it
    ],
)
def test_conversations_members_refuses_as_slack_does(
    emulator: SlackEmulator, client: WebClient, channel: Channel | None, error: str
) -> None:
    if channel is not None:
        emulator.add_channel(channel)
        emulator.leave(channel.id, BOT_USER_ID)

    with pytest.raises(SlackApiError) as refused:
        client.conversations_members(channel=channel.id if channel else "C0NOWHERE")

    assert refused.value.response["error"] == error
