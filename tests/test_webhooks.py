"""Webhooks of the approval API (docs/api.md, Webhooks) through the real components: the bot's web process's
WSGI app, the Slack emulator where people decide, the worker's resume (which POSTs the decision), the retries
the dispatcher owes from SQL, and a real HTTP receiver on a port of its own."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest

from approvals.models import ApprovalRequest, RunStatus, utcnow
from approvals.store.api_keys import Webhook
from bot.ids import ActionId
from countersign.client import Countersign
from tests.local import Local
from tests.stack import Stack, wait_until
from worker.webhooks import WebhookFailed, post


class Receiver:
    """A caller's webhook endpoint on a free port: what it was POSTed, answering `status`; down until `start`."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/countersign"
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.location: str | None = None
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(receiver.status)
                if receiver.location is not None:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    down = Receiver()
    try:
        yield down
    finally:
        down.stop()


@pytest.fixture
def key_and_secret(local: Local) -> tuple[str, str]:
    record, key = local.store.api_keys.create("payments")
    assert record.webhook_secret
    return key, record.webhook_secret


def _ask(order_id: str, callback_url: str) -> dict[str, Any]:
    arguments = {"order_id": order_id, "amount": 250.0}
    return {"agent": "payments", "tool": "refund", "arguments": arguments, "callback_url": callback_url}


def _asked(local: Local, key: str, order_id: str, callback_url: str) -> ApprovalRequest:
    status, body = local.api("POST", "/v1/approvals", _ask(order_id, callback_url), key)
    assert status == 201, body
    approval = local.store.requests.get(body["id"])
    return wait_until(lambda: local.posted(approval) and local.store.requests.get(approval.id), 10, "the request's message")


def _documented_check() -> Callable[[str, str, str, bytes], bool]:
    """The `verify` function docs/api.md shows a caller, as written there."""
    docs = (Path(__file__).parent.parent / "docs" / "api.md").read_text()
    snippet = re.search(r"## Webhooks.*?```python\n(.*?)```", docs, re.DOTALL)
    assert snippet, "docs/api.md shows no signature check"
    names: dict[str, Any] = {}
    exec(snippet[1], names)
    return cast("Callable[[str, str, str, bytes], bool]", names["verify"])


DOCUMENTED_CHECK = _documented_check()


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The signature check docs/api.md shows, on what the receiver got."""
    return DOCUMENTED_CHECK(secret, headers["X-Countersign-Timestamp"], headers["X-Countersign-Signature"], body)


def _events(local: Local, approval: ApprovalRequest, event: str) -> list[dict[str, Any]]:
    return [e.detail for e in local.store.audit_log.audit_events(approval.id) if e.event == event]


def _failed_attempts(local: Local, approval: ApprovalRequest) -> int:
    """Attempts the runtime recorded as failed (and so held back by its backoff) for the approval's run."""
    events = local.store.audit_log.audit_events()
    return len([e for e in events if e.event == "attempt_failed" and e.detail.get("thread_id") == approval.thread_id])


def _retry_now(local: Local, approval: ApprovalRequest, failed: int) -> None:
    """Once `failed` attempts are recorded, their backoff is over: the next pass finds the delivery owed in SQL."""
    wait_until(lambda: _failed_attempts(local, approval) >= failed, 10, f"{failed} failed attempts recorded")
    local.store.runs.update_run(approval.thread_id, next_attempt_at=None)


def _ended(local: Local, approval: ApprovalRequest) -> None:
    """The decision was delivered and the run ended."""
    wait_until(lambda: local.store.runs.get_run(approval.thread_id).outcome_posted_at, 10, "the decision delivered")
    assert local.store.requests.get(approval.id).resumed_at is not None


def _the_one_delivery(local: Local, key: str, secret: str, approval: ApprovalRequest, receiver: Receiver) -> dict[str, Any]:
    """The receiver got the decision once, signed with the key's secret, as GET answers it; the run ended."""
    _ended(local, approval)
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert headers["Content-Type"] == "application/json"
    assert verify(secret, headers, body)
    assert not verify("whsec_another", headers, body)
    status, read = local.api("GET", f"/v1/approvals/{approval.id}", key=key)
    assert status == 200 and json.loads(body) == read
    assert local.store.runs.get_run(approval.thread_id).status is RunStatus.DONE
    assert [d["status"] for d in _events(local, approval, "webhook_delivered")] == [200]
    return dict(read)


def test_approved_in_slack_is_posted_once_signed_with_the_keys_secret(
    local: Local, key_and_secret: tuple[str, str], receiver: Receiver
) -> None:
    key, secret = key_and_secret
    receiver.start()
    approval = _asked(local, key, "hook-1", receiver.url)

    assert local.click("U0APPROVER", ActionId.APPROVE, approval).status == 200

    read = _the_one_delivery(local, key, secret, approval, receiver)
    assert read["status"] == "approved"
    assert read["decision"]["arguments"] == {"order_id": "hook-1", "amount": 250.0}
    assert not _events(local, approval, "webhook_failed")


def test_rejected_in_slack_is_posted_with_its_reason(local: Local, key_and_secret: tuple[str, str], receiver: Receiver) -> None:
    key, secret = key_and_secret
    receiver.start()
    approval = _asked(local, key, "hook-2", receiver.url)

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Not without the receipt")

    read = _the_one_delivery(local, key, secret, approval, receiver)
    assert read["status"] == "rejected"
    assert read["decision"]["message"] == "Not without the receipt"


def test_an_expired_approval_is_posted_expired(local: Local, key_and_secret: tuple[str, str], receiver: Receiver) -> None:
    key, secret = key_and_secret
    receiver.start()
    approval = _asked(local, key, "hook-3", receiver.url)
    assert approval.deadline_at is not None

    local.fire_due(approval.deadline_at + timedelta(seconds=1))

    read = _the_one_delivery(local, key, secret, approval, receiver)
    assert read["status"] == "expired"
    assert read["decision"]["arguments"] is None


def test_a_receiver_down_for_the_first_attempts_gets_the_decision_once_it_is_up(
    local: Local, key_and_secret: tuple[str, str], receiver: Receiver
) -> None:
    key, secret = key_and_secret
    approval = _asked(local, key, "hook-4", receiver.url)

    local.click("U0APPROVER", ActionId.APPROVE, approval)
    wait_until(lambda: len(_events(local, approval, "webhook_failed")) == 1, 10, "the first attempt failing")
    _retry_now(local, approval, 1)
    wait_until(lambda: len(_events(local, approval, "webhook_failed")) == 2, 10, "the second attempt failing")
    wait_until(lambda: _failed_attempts(local, approval) == 2, 10, "the second attempt recorded")
    # Still owed, held back by the runtime's backoff until the test says it is over.
    assert local.store.requests.get(approval.id).resumed_at is None
    assert approval.id not in local.store.due.resumes_owed(utcnow())
    assert approval.id in local.store.due.resumes_owed(utcnow() + timedelta(minutes=5))
    assert all(d["error"] and d["status"] is None for d in _events(local, approval, "webhook_failed"))

    receiver.start()
    _retry_now(local, approval, 2)

    _the_one_delivery(local, key, secret, approval, receiver)


def test_a_receiver_answering_an_error_is_retried_until_it_acknowledges(
    local: Local, key_and_secret: tuple[str, str], receiver: Receiver
) -> None:
    key, secret = key_and_secret
    receiver.status = 503
    receiver.start()
    approval = _asked(local, key, "hook-5", receiver.url)

    local.click("U0APPROVER", ActionId.APPROVE, approval)
    wait_until(lambda: _events(local, approval, "webhook_failed"), 10, "the first attempt failing")
    [failed] = _events(local, approval, "webhook_failed")
    assert failed["error"] == "answered 503" and failed["status"] == 503

    receiver.status = 204
    _retry_now(local, approval, 1)
    _ended(local, approval)
    assert len(receiver.received) == 2
    assert all(verify(secret, headers, body) for headers, body in receiver.received)
    assert [d["status"] for d in _events(local, approval, "webhook_delivered")] == [204]


def test_a_redirect_is_not_followed_the_signed_decision_goes_nowhere_else(
    local: Local, key_and_secret: tuple[str, str], receiver: Receiver
) -> None:
    key, _ = key_and_secret
    elsewhere = Receiver()
    elsewhere.start()
    receiver.status, receiver.location = 307, elsewhere.url
    receiver.start()
    try:
        approval = _asked(local, key, "hook-r", receiver.url)

        local.click("U0APPROVER", ActionId.APPROVE, approval)

        wait_until(lambda: _events(local, approval, "webhook_failed"), 10, "the attempt failing")
        assert _events(local, approval, "webhook_failed")[0]["error"] == "answered 307"
        assert len(receiver.received) == 1 and not elsewhere.received
        assert local.store.requests.get(approval.id).resumed_at is None

        # Once the endpoint answers itself, the retry delivers it there.
        receiver.status, receiver.location = 200, None
        _retry_now(local, approval, 1)
        _ended(local, approval)
        assert len(receiver.received) == 2 and not elsewhere.received
    finally:
        elsewhere.stop()


def test_a_receiver_that_stays_down_is_given_up_on_after_the_attempts_allowed(
    local: Local, key_and_secret: tuple[str, str], receiver: Receiver
) -> None:
    key, _ = key_and_secret
    approval = _asked(local, key, "hook-6", receiver.url)
    allowed = local.settings.max_attempts

    local.click("U0APPROVER", ActionId.APPROVE, approval)
    for attempt in range(1, allowed + 1):
        wait_until(lambda n=attempt: len(_events(local, approval, "webhook_failed")) >= n, 10, f"attempt {attempt} failing")
        if attempt < allowed:
            _retry_now(local, approval, attempt)

    run = wait_until(
        lambda: (r := local.store.runs.get_run(approval.thread_id)).status is RunStatus.FAILED and r, 10, "the run given up"
    )
    assert len(_events(local, approval, "webhook_failed")) == allowed
    [given_up] = _events(local, approval, "webhook_given_up")
    assert given_up["url"] == receiver.url and given_up["attempts"] == allowed
    assert run.ending is not None and run.ending.kind == "gave_up"
    # Nothing more is owed: no further attempt is made.
    assert approval.id not in local.store.due.resumes_owed(utcnow() + timedelta(hours=1))


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/hook", "javascript:alert(1)", "http://", "example.com/hook", "http://user@evil.example/", "http://a b/"],
)
def test_a_bad_callback_url_is_invalid_and_named(local: Local, key_and_secret: tuple[str, str], url: str) -> None:
    status, body = local.api("POST", "/v1/approvals", _ask("hook-7", url), key_and_secret[0])
    assert status == 400
    assert body["error"]["code"] == "invalid" and body["error"]["field"] == "callback_url"


def test_without_a_callback_url_nothing_is_posted(local: Local, key_and_secret: tuple[str, str]) -> None:
    key, _ = key_and_secret
    status, body = local.api("POST", "/v1/approvals", {**_ask("hook-8", "http://x"), "callback_url": None}, key)
    assert status == 201
    approval = local.store.requests.get(body["id"])
    wait_until(lambda: local.posted(approval), 10, "the request's message")

    local.click("U0APPROVER", ActionId.APPROVE, approval)

    _ended(local, approval)
    assert not _events(local, approval, "webhook_delivered") and not _events(local, approval, "webhook_failed")


def test_through_the_real_worker_a_receiver_down_at_first_gets_the_decision_once_up(stack: Stack, receiver: Receiver) -> None:
    record, key = stack.store.api_keys.create("payments")
    client = Countersign(f"http://127.0.0.1:{stack.port}", key, timeout=20)
    asked = client.ask("refund", {"order_id": "wh-stack", "amount": 250.0}, callback_url=receiver.url)
    stack.click("U0APPROVER", ActionId.APPROVE, stack.asked_over_the_api("wh-stack"))

    # The worker's first attempt finds nobody listening; it is retried from SQL after its backoff.
    wait_until(lambda: _failed_in(stack, asked.id), 20, "a failed attempt")
    receiver.start()
    wait_until(lambda: receiver.received, 30, "the decision at the receiver")

    [(headers, body)] = receiver.received
    assert record.webhook_secret and verify(record.webhook_secret, headers, body)
    delivered = json.loads(body)
    assert (delivered["id"], delivered["status"]) == (asked.id, "approved")
    assert delivered["decision"]["arguments"] == {"order_id": "wh-stack", "amount": 250.0}


def _failed_in(stack: Stack, approval_id: str) -> bool:
    return any(e.event == "webhook_failed" for e in stack.store.audit_log.audit_events(approval_id))


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data", "http://[fe80::1]/hook", "http://0.0.0.0:9/hook"])
def test_a_callback_url_that_reaches_link_local_or_unspecified_addresses_is_never_posted(
    local: Local, key_and_secret: tuple[str, str], url: str
) -> None:
    key, _ = key_and_secret
    approval = _asked(local, key, "wh-meta", url)
    local.click("U0APPROVER", ActionId.APPROVE, approval)

    # The resume is taken by the tier's worker thread: wait for its attempt.
    failed = wait_until(lambda: _events(local, approval, "webhook_failed"), 10, "the attempt's audit row")
    assert "may not reach" in str(failed[0])
    assert not _events(local, approval, "webhook_delivered")


def test_a_callback_name_that_resolves_elsewhere_when_looked_up_again_is_posted_where_it_was_checked(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DNS rebinding: the name answers with the receiver's address when it is checked, then with the cloud metadata
    # service's, for whoever looks it up again to connect.
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.rebinding.test":
            return real(host, *args, **kwargs)
        looked_up.append(host)
        return real("127.0.0.1" if len(looked_up) == 1 else "169.254.169.254", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    receiver.start()

    status = post(Webhook(url=f"http://hooks.rebinding.test:{receiver.port}/hooks/countersign", secret="s3cret"), b"{}")

    assert status == 200 and len(receiver.received) == 1
    assert receiver.received[0][0]["Host"] == f"hooks.rebinding.test:{receiver.port}"
    assert looked_up == ["hooks.rebinding.test"]


def test_a_callback_url_of_an_ipv6_address_without_a_port_is_posted_to_its_schemes_port(monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[tuple[str, int]] = []

    def refused(address: tuple[str, int], *args: Any) -> socket.socket:
        tried.append(address)
        raise ConnectionRefusedError("nobody listens here")

    monkeypatch.setattr(socket, "create_connection", refused)

    with pytest.raises(WebhookFailed, match="ConnectionRefusedError"):
        post(Webhook(url="http://[::1]/hooks/countersign", secret="s3cret"), b"{}")

    assert tried == [("::1", 80)]
