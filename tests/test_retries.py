"""Slack's retries: a request Slack delivers again (`X-Slack-Retry-Num`, or a Socket Mode redelivery of the same
payload) is answered as the first was, within Slack's 3 s, and decides, starts, opens and tells nothing twice."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_bolt.response import BoltResponse
from slack_sdk.socket_mode.request import SocketModeRequest
from sqlalchemy import func, select

from approvals.models import utcnow
from approvals.store import Store, create_db_engine
from approvals.tables import runs
from bot.app import LISTENER_THREADS, create_app
from bot.ids import ActionId, BlockId
from bot.server import CountersignRequestHandler
from bot.slack_client import create_slack_client
from sandbox.driver import Response, SlackDriver, plain_text_value
from tests.local import Local, WsgiDriver
from tests.stack import Stack, wait_until

SLACK_WAITS_SECONDS = 3.0


def _settled(local: Local) -> None:
    """Wait until the bot's listener threads have finished everything handed to them so far (twice over: work a
    listener hands on after its ack is queued behind the first round): what a request did after its answer is done."""
    executor = local.app.listener_runner.listener_executor
    for _ in range(2):
        barrier = threading.Barrier(LISTENER_THREADS + 1)
        for _ in range(LISTENER_THREADS):
            executor.submit(barrier.wait, 10)
        barrier.wait(10)


def _decided(local: Local, approval_id: str) -> list[object]:
    return [event for event in local.store.audit_log.audit_events(approval_id) if event.event == "decided"]


def _ephemerals_to(local: Local, user: str) -> list[str]:
    return [str(c.params.get("text")) for c in local.slack.calls_to("chat.postEphemeral") if c.params.get("user") == user]


def _runs_of(local: Local, user: str) -> int:
    with local.store.db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(runs).where(runs.c.requested_by == user)).scalar_one())


def test_a_retried_approve_click_decides_once_and_runs_the_tool_once(local: Local) -> None:
    approval = local.start_run("Refund order #701 for $70", agent="payments_effects")
    click = local.click("U0RETRY1", ActionId.APPROVE, approval)

    retry = local.driver.retry(click)

    assert click.status == retry.status == 200 and retry.elapsed < SLACK_WAITS_SECONDS
    assert "Refunded $70.00 for order #701" in local.outcome(approval)
    assert len(_decided(local, approval.id)) == 1
    assert local.refunds_of("701") == 1
    assert _ephemerals_to(local, "U0RETRY1") == []  # no "already decided" for the person's own click


def test_a_retried_approve_click_updates_the_message_once(local: Local) -> None:
    approval = local.start_run("Refund order #702 for $70", agent="payments_effects")
    click = local.click("U0RETRY2", ActionId.APPROVE, approval)
    local.wait_for_update(approval, lambda call: "Approved* by <@U0RETRY2>" in str(call.params.get("blocks")))
    local.outcome(approval)
    with local.paused():  # the worker's job has ended, with whatever it drew
        updates = len([c for c in local.slack.calls_to("chat.update") if c.params.get("ts") == local.ts_of(approval)])

    local.driver.retry(click, num=2)
    _settled(local)
    local.work()

    after = [c for c in local.slack.calls_to("chat.update") if c.params.get("ts") == local.ts_of(approval)]
    assert len(after) == updates


def test_a_retry_arriving_while_the_first_click_is_still_recorded_does_nothing_and_is_answered_in_time(
    local: Local, monkeypatch: pytest.MonkeyPatch
) -> None:
    approval = local.start_run("Refund order #703 for $70", agent="payments_effects")
    recording, go_on = threading.Event(), threading.Event()
    decide = local.store.decisions.record_decision

    def slow_record(*args: object, **kwargs: object) -> object:
        recording.set()
        go_on.wait(10)
        return decide(*args, **kwargs)

    monkeypatch.setattr(local.store.decisions, "record_decision", slow_record)
    clicking = threading.Thread(target=lambda: local.click("U0RETRY3", ActionId.APPROVE, approval))
    clicking.start()
    assert recording.wait(10)
    sent = local.driver.last_payload

    retry = local.driver.retry(_sent(sent))
    go_on.set()
    clicking.join(10)

    assert retry.status == 200 and retry.body == "" and retry.elapsed < SLACK_WAITS_SECONDS
    assert "Refunded $70.00 for order #703" in local.outcome(approval)
    assert len(_decided(local, approval.id)) == 1 and local.refunds_of("703") == 1
    assert _ephemerals_to(local, "U0RETRY3") == []


def _sent(payload: dict[str, Any] | None) -> Response:
    """What `SlackDriver.retry` needs of a request the driver is still sending (its own Response is not back yet)."""
    return Response(status=0, body="", elapsed=0.0, payload=payload)


def test_a_retried_run_command_starts_one_run_and_answers_as_the_first(local: Local) -> None:
    command = local.driver.slash_command("U0RETRY4", "/countersign", "run payments Refund order #704 for $7")

    retry = local.driver.retry(command)

    assert retry.status == 200 and retry.elapsed < SLACK_WAITS_SECONDS
    assert retry.json() == command.json()
    assert re.search(r"run `[0-9a-f]{32}`", retry.json()["text"])
    local.work()
    assert _runs_of(local, "U0RETRY4") == 1


def test_a_retried_edit_click_opens_one_modal_and_shows_no_error(local: Local) -> None:
    approval = local.start_run("Refund order #705 for $70")
    click = local.click("U0RETRY5", ActionId.EDIT, approval)
    trigger = click.payload["trigger_id"] if click.payload else None
    local.slack.wait_for("views.open", lambda call: call.params.get("trigger_id") == trigger)

    retry = local.driver.retry(click)
    _settled(local)

    assert retry.status == 200 and retry.body == "" and retry.elapsed < SLACK_WAITS_SECONDS
    assert len([c for c in local.slack.calls_to("views.open") if c.params.get("trigger_id") == trigger]) == 1
    assert _ephemerals_to(local, "U0RETRY5") == []


def test_a_retried_reject_submission_decides_once_and_answers_the_same(local: Local) -> None:
    approval = local.start_run("Refund order #706 for $70", agent="payments_effects")
    view = local.open_modal("U0RETRY6", ActionId.REJECT, approval).response["view"]
    reason = {BlockId.REJECT_REASON: {ActionId.REJECT_REASON: plain_text_value("Paid twice already")}}
    submitted = local.driver.view_submission("U0RETRY6", view, reason)

    retry = local.driver.retry(submitted)

    assert submitted.status == retry.status == 200 and retry.elapsed < SLACK_WAITS_SECONDS
    assert retry.body == submitted.body == ""  # the modal closes; no "already decided" on the form
    assert "Paid twice already" in local.outcome(approval)
    assert len(_decided(local, approval.id)) == 1 and local.refunds_of("706") == 0


def test_a_retried_submission_refused_inline_is_refused_again_with_the_same_words(local: Local) -> None:
    approval = local.start_run("Refund order #707 for $70")
    view = local.open_modal("U0RETRY7", ActionId.REJECT, approval).response["view"]
    submitted = local.driver.view_submission(
        "U0RETRY7", view, {BlockId.REJECT_REASON: {ActionId.REJECT_REASON: plain_text_value(" ")}}
    )

    retry = local.driver.retry(submitted)

    assert retry.json() == submitted.json() and retry.json()["response_action"] == "errors"
    assert local.store.requests.get(approval.id).is_pending


def test_a_retried_app_home_opened_is_answered_without_drawing_the_tab_again(local: Local) -> None:
    def published() -> int:
        return len([c for c in local.slack.calls_to("views.publish") if c.params.get("user_id") == "U0RETRY8"])

    opened = local.driver.event({"type": "app_home_opened", "user": "U0RETRY8", "channel": "D0HOME", "tab": "home"})
    wait_until(lambda: published() == 1, 10, "the Home tab drawn")

    retry = local.driver.retry(opened, reason="http_error")
    _settled(local)

    assert retry.status == 200 and retry.elapsed < SLACK_WAITS_SECONDS
    assert published() == 1  # Home is drawn from SQL on every open; the retry adds nothing to see


def test_a_delivery_whose_handling_failed_is_handled_by_its_retry(local: Local, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(_app: object, _req: object) -> object:
        raise RuntimeError("the bot's database went away")

    with monkeypatch.context() as patched, pytest.raises(RuntimeError):
        patched.setattr("slack_bolt.App.dispatch", failing)
        local.driver.slash_command("U0RETRY9", "/countersign", "run payments Refund order #709 for $9")
    first = _sent(local.driver.last_payload)
    wait_until(lambda: local.store.deliveries.seen(_key_of(first)) is None, 10, "the failed delivery's claim released")

    retry = local.driver.retry(first)

    assert retry.status == 200 and "run `" in retry.json()["text"]
    local.work()
    assert _runs_of(local, "U0RETRY9") == 1


def _key_of(response: object) -> str:
    from bot.deliveries import delivery_key

    payload = getattr(response, "payload", None)
    assert isinstance(payload, dict)
    key = delivery_key(payload)
    assert key is not None
    return key


@pytest.fixture
def other_replica(local: Local) -> Iterator[WsgiDriver]:
    """A second bot process on the same database (its own app, store and connections), as a second replica or
    the bot after a restart: a retry Slack sends may reach it."""
    settings = local.settings
    store = Store(create_db_engine(settings.sqlalchemy_url))
    app = create_app(settings, store, local.queue, create_slack_client(settings), policies=local.rules)
    secret = local.driver.signing_secret
    yield WsgiDriver(CountersignRequestHandler(app, secret), secret, local.slack.response_url(), local.slack.add_member)
    store.db.engine.dispose()


def test_a_retried_run_command_reaching_another_replica_starts_no_run_and_answers_as_the_first(
    local: Local, other_replica: WsgiDriver
) -> None:
    command = local.driver.slash_command("U0RETRYA", "/countersign", "run payments Refund order #710 for $7")

    retry = other_replica.retry(command)

    assert retry.status == 200 and retry.elapsed < SLACK_WAITS_SECONDS
    assert retry.json() == command.json()
    local.work()
    assert _runs_of(local, "U0RETRYA") == 1


def test_a_retried_approve_click_reaching_another_replica_decides_nothing_and_is_answered_in_time(
    local: Local, other_replica: WsgiDriver
) -> None:
    approval = local.start_run("Refund order #711 for $70", agent="payments_effects")
    click = local.click("U0RETRYB", ActionId.APPROVE, approval)

    retry = other_replica.retry(click)

    assert retry.status == 200 and retry.body == "" and retry.elapsed < SLACK_WAITS_SECONDS
    assert "Refunded $70.00 for order #711" in local.outcome(approval)
    assert len(_decided(local, approval.id)) == 1 and local.refunds_of("711") == 1
    assert _ephemerals_to(local, "U0RETRYB") == []


def test_a_socket_mode_redelivery_of_a_run_command_starts_one_run_and_answers_as_the_first(local: Local) -> None:
    # Bolt's Socket Mode adapter hands each envelope's payload to the app as this does; the emulator's websocket
    # (another test module) redelivers an envelope that was not acked, with the same payload.
    local.slack.add_member("U0RETRYC")
    payload = {
        "command": "/countersign",
        "text": "run payments Refund order #712 for $7",
        "user_id": "U0RETRYC",
        "user_name": "u0retryc",
        "team_id": "T0EMULATED",
        "channel_id": "C0REQUESTS",
        "response_url": local.slack.response_url(),
        "trigger_id": SlackDriver.new_trigger_id(),
        "api_app_id": "A0EMULATED",
    }

    def delivered(attempt: int) -> BoltResponse:
        envelope = {"type": "slash_commands", "envelope_id": f"e{attempt}", "payload": payload, "accepts_response_payload": True}
        return run_bolt_app(local.app, SocketModeRequest.from_dict({**envelope, "retry_attempt": attempt}))

    first = delivered(0)
    again = delivered(1)

    assert first.status == again.status == 200 and "run `" in first.body
    assert (again.body, again.headers.get("content-type")) == (first.body, first.headers.get("content-type"))
    local.work()
    assert _runs_of(local, "U0RETRYC") == 1


def test_deliveries_are_forgotten_an_hour_after_they_arrived_long_past_slacks_last_retry(local: Local) -> None:
    now = utcnow()
    local.store.deliveries.claim("old-delivery", now - timedelta(hours=1, minutes=1))
    local.store.deliveries.claim("recent-delivery", now - timedelta(minutes=6))

    local.store.deliveries.prune(now)

    assert local.store.deliveries.seen("old-delivery") is None
    assert local.store.deliveries.seen("recent-delivery") is not None


def test_a_retried_run_command_through_the_real_bot_starts_one_run(stack: Stack) -> None:
    command = stack.driver.slash_command("U0RETRYD", "/countersign", "run payments Refund order #713 for $7")

    retry = stack.driver.retry(command)

    assert retry.status == 200 and retry.elapsed < SLACK_WAITS_SECONDS and retry.json() == command.json()
    thread_id = re.search(r"run `([0-9a-f]{32})`", command.json()["text"])
    assert thread_id
    stack.wait_for_request(thread_id.group(1))
    with stack.store.db.engine.connect() as conn:
        asked = conn.execute(select(func.count()).select_from(runs).where(runs.c.requested_by == "U0RETRYD")).scalar_one()
    assert asked == 1
