"""Hostile and odd requests get a clear answer, never a 500, and change nothing (through the real bot)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.request
from urllib.parse import urlencode

import pytest

from approvals.models import ApprovalRequest
from bot.ids import ActionId, BlockId, CallbackId
from bot.metadata import ApprovalRef
from sandbox.driver import plain_text_value
from tests.conftest import SIGNING_SECRET
from tests.stack import Stack

FORM = "application/x-www-form-urlencoded"


def _raw(stack: Stack, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(stack.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(scope="module")
def waiting(stack: Stack) -> ApprovalRequest:
    """One pending request every hostile request in this file could have changed (none may)."""
    return stack.start_run("Refund order #340 for $250")


def _untouched(stack: Stack, approval: ApprovalRequest) -> None:
    assert stack.store.requests.get(approval.id).is_pending


@pytest.mark.parametrize(
    "body",
    [b"payload=not-json", b"payload=%5B1%2C2%5D", b"a=%ZZ&&=", b"payload=%7B%22type%22%3A1%7D"],
    ids=["payload not JSON", "payload a JSON list", "malformed form", "payload type not text"],
)
def test_signed_malformed_body_is_a_400(stack: Stack, waiting: ApprovalRequest, body: bytes) -> None:
    assert stack.driver.post(body, FORM).status == 400
    _untouched(stack, waiting)


@pytest.mark.parametrize("body", [b"payload=not-json", b"\xff\xfe\x00binary"], ids=["unsigned garbage", "unsigned binary"])
def test_unsigned_garbage_is_a_401(stack: Stack, waiting: ApprovalRequest, body: bytes) -> None:
    assert _raw(stack, body, {"Content-Type": FORM}) == 401
    _untouched(stack, waiting)


def test_binary_body_is_a_401_even_signed_over_its_bytes(stack: Stack, waiting: ApprovalRequest) -> None:
    body, timestamp = b"\xff\xfe\x00binary", str(int(time.time()))
    # Signed by hand: slack_sdk's generate_signature decodes a bytes body as UTF-8 first, and this one is not.
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": FORM, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}

    assert _raw(stack, body, headers) == 401
    _untouched(stack, waiting)


def test_non_numeric_timestamp_is_a_401(stack: Stack, waiting: ApprovalRequest) -> None:
    assert stack.driver.post("payload=%7B%7D", FORM, timestamp="abc").status == 401


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        ("1" * 5000, None),
        (" 1", None),
        ("now", "v0=\xe9" + "0" * 63),
        ("now", "v0=" + "0" * 5000),
        ("now", "v0=" + "A" * 64),
    ],
    ids=["5,000-digit timestamp", "spaced timestamp", "non-ASCII signature", "5,000-digit signature", "upper-case signature"],
)
def test_malformed_signature_headers_are_a_401_without_a_traceback(
    stack: Stack, waiting: ApprovalRequest, timestamp: str, signature: str | None
) -> None:
    body = b"payload=%7B%7D"
    when = str(int(time.time())) if timestamp == "now" else timestamp
    headers = {"Content-Type": FORM, "X-Slack-Request-Timestamp": when, "X-Slack-Signature": signature or "v0=" + "0" * 64}
    logged = len(stack.log("bot"))

    assert _raw(stack, body, headers) == 401
    assert "Traceback" not in stack.log("bot")[logged:]
    _untouched(stack, waiting)


def test_body_over_a_megabyte_is_a_413_before_any_check(stack: Stack, waiting: ApprovalRequest) -> None:
    # Only the headers are sent: the answer must come before the 5 MB would have been read.
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    connection.putrequest("POST", "/slack/events")
    for name, value in {
        "Content-Type": FORM,
        "Content-Length": "5000000",
        "X-Slack-Request-Timestamp": str(int(time.time())),
        "X-Slack-Signature": "v0=00",
    }.items():
        connection.putheader(name, value)
    connection.endheaders()

    assert connection.getresponse().status == 413
    connection.close()
    _untouched(stack, waiting)


def test_click_with_no_actions_is_a_400(stack: Stack, waiting: ApprovalRequest) -> None:
    payload = {"type": "block_actions", "user": {"id": "U0MALLORY"}, "actions": [], "container": {"type": "message"}}

    assert stack.driver.post(urlencode({"payload": json.dumps(payload)}), FORM).status == 400
    _untouched(stack, waiting)


@pytest.mark.parametrize("value", ["garbage", "{}", '{"approval_id": 7}', "[]"])
def test_button_with_a_garbage_value_changes_nothing_and_says_so(stack: Stack, waiting: ApprovalRequest, value: str) -> None:
    response = stack.driver.block_action(
        "U0GARBAGE", ActionId.APPROVE, value, channel_id=waiting.channel or "", container_message_ts=stack.ts_of(waiting)
    )

    assert response.status == 200
    assert "this request can't be handled here" in stack.ephemeral_to("U0GARBAGE")[-1]
    _untouched(stack, waiting)


def test_button_naming_another_request_decides_neither(stack: Stack, waiting: ApprovalRequest) -> None:
    other = stack.start_run("Refund order #341 for $250")

    # A click on the first request's message whose value names the second.
    response = stack.driver.block_action(
        "U0SWAPPER",
        ActionId.APPROVE,
        ApprovalRef(approval_id=other.id).dump(),
        channel_id=waiting.channel or "",
        container_message_ts=stack.ts_of(waiting),
    )

    assert response.status == 200
    assert "the button is not on this request's message" in stack.ephemeral_to("U0SWAPPER")[-1]
    _untouched(stack, waiting)
    _untouched(stack, other)


def test_button_naming_a_call_the_request_does_not_have_changes_nothing(stack: Stack, waiting: ApprovalRequest) -> None:
    response = stack.driver.block_action(
        "U0INDEX",
        ActionId.APPROVE,
        ApprovalRef(approval_id=waiting.id, action=7).dump(),
        channel_id=waiting.channel or "",
        container_message_ts=stack.ts_of(waiting),
    )

    assert response.status == 200
    assert "names a call the request does not have" in stack.ephemeral_to("U0INDEX")[-1]
    _untouched(stack, waiting)


@pytest.mark.parametrize("callback", [CallbackId.REJECT_MODAL, CallbackId.EDIT_MODAL])
@pytest.mark.parametrize(
    "metadata",
    ["garbage", "{}", "ACTION_OUT_OF_RANGE", "UNSIGNED", "OTHER_REQUEST"],
)
def test_modal_with_tampered_metadata_shows_an_inline_error_and_changes_nothing(
    stack: Stack, waiting: ApprovalRequest, callback: str, metadata: str
) -> None:
    opened = stack.open_modal("U0TAMPER", ActionId.REJECT if callback == CallbackId.REJECT_MODAL else ActionId.EDIT, waiting)
    view = dict(opened.response["view"])
    signed = ApprovalRef.load(view["private_metadata"])
    other = ApprovalRef(approval_id="f" * 32).model_copy(update={"sig": signed.sig})
    view["private_metadata"] = {
        "ACTION_OUT_OF_RANGE": signed.model_copy(update={"action": 9}).dump(),
        "UNSIGNED": ApprovalRef(approval_id=waiting.id).dump(),
        "OTHER_REQUEST": other.dump(),
    }.get(metadata, metadata)
    values = {BlockId.REJECT_REASON: {ActionId.REJECT_REASON: plain_text_value("no")}}
    if callback == CallbackId.EDIT_MODAL:
        values = {b["block_id"]: {ActionId.ARG_VALUE: plain_text_value("1")} for b in view["blocks"] if b["type"] == "input"}

    response = stack.driver.view_submission("U0TAMPER", view, values)

    assert response.status == 200
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert "can't be handled here" in next(iter(answer["errors"].values()))
    _untouched(stack, waiting)


def test_slash_command_text_with_control_characters_is_echoed_visibly(stack: Stack) -> None:
    response = stack.driver.slash_command("U0CTRL", "/countersign", "frobnicate\x00\x07 <!channel>")

    text = response.json()["text"]
    assert "\x00" not in text and "\x07" not in text and "<!channel>" not in text
    assert "&lt;!channel&gt;" in text


def test_arguments_that_try_to_ping_are_shown_as_text_everywhere(stack: Stack) -> None:
    approval = stack.start_run("Refund order #350 for $250 <!channel> <@U0BOSS> \x07")

    posted = stack.slack.wait_for(
        "chat.postMessage", lambda call: call.response and call.response.get("ts") == stack.ts_of(approval)
    )
    stack.click("U0APPROVER", ActionId.APPROVE, approval)
    outcome = stack.outcome(approval)

    for text in (str(posted.params["blocks"]), posted.params["text"], outcome):
        assert "<!channel>" not in text and "<@U0BOSS>" not in text and "\x07" not in text
    assert "&lt;!channel&gt; &lt;@U0BOSS&gt; ␇" in str(posted.params["blocks"])
    assert "&lt;!channel&gt;" in outcome
