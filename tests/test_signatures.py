"""Only Slack may click: unsigned, wrongly signed and replayed requests are refused and decide nothing."""

from __future__ import annotations

import time
import urllib.request

from bot.ids import ActionId
from tests.stack import Stack


def test_forged_signature_is_refused_and_decides_nothing(stack: Stack) -> None:
    approval = stack.start_run("Refund order #80 for $250")

    response = stack.click("U0MALLORY", ActionId.APPROVE, approval, signature="v0=" + "0" * 64)

    assert response.status == 401
    assert stack.store.requests.get(approval.id).is_pending


def test_replayed_request_older_than_five_minutes_is_refused(stack: Stack) -> None:
    approval = stack.start_run("Refund order #81 for $250")

    response = stack.click("U0MALLORY", ActionId.APPROVE, approval, timestamp=int(time.time()) - 6 * 60)

    assert response.status == 401
    assert stack.store.requests.get(approval.id).is_pending


def test_unsigned_request_is_refused(stack: Stack) -> None:
    approval = stack.start_run("Refund order #82 for $250")
    body = b'payload={"type":"block_actions"}'
    request = urllib.request.Request(stack.url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})

    try:
        status = urllib.request.urlopen(request, timeout=5).status
    except urllib.error.HTTPError as error:
        status = error.code

    assert status == 401
    assert stack.store.requests.get(approval.id).is_pending
