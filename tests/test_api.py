"""The approval API (docs/api.md) through the real components: the bot's web process's WSGI app, the Slack
emulator where people decide, the store and the worker's resume; one test through the real processes."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any

import pytest

from api.service import HELD_READS
from approvals.models import ApprovalRequest, RunStatus
from approvals.policies import Rule
from bot.ids import ActionId, BlockId
from countersign.web import API_PREFIX
from sandbox.driver import number_value, plain_text_value
from tests.local import Local
from tests.policies import TINY_REFUNDS
from tests.stack import Stack, wait_until

SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
    "required": ["order_id", "amount"],
}


def _ask(order_id: str, amount: float = 250.0, **more: Any) -> dict[str, Any]:
    return {
        "agent": "payments",
        "tool": "refund",
        "arguments": {"order_id": order_id, "amount": amount},
        "context": {
            "summary": f"Refund a damaged parcel, order {order_id}",
            "reasoning": "The customer sent a photo",
            "link": f"https://crm.example/orders/{order_id}",
        },
        "requested_by": "U0ASKER",
        **more,
    }


@pytest.fixture
def key(local: Local) -> str:
    return local.store.api_keys.create("payments")[1]


def _asked(local: Local, key: str, order_id: str, **more: Any) -> ApprovalRequest:
    """Ask over the API and wait for the request's message in Slack."""
    status, body = local.api("POST", "/v1/approvals", _ask(order_id, **more), key)
    assert status == 201, body
    assert body["status"] == "pending" and body["decision"] is None
    approval = local.store.requests.get(body["id"])
    return wait_until(lambda: local.posted(approval) and local.store.requests.get(approval.id), 10, "the request's message")


def _read(local: Local, key: str, approval: ApprovalRequest, wait: float | None = None) -> dict[str, Any]:
    query = "" if wait is None else f"?wait={wait}"
    status, body = local.api("GET", f"/v1/approvals/{approval.id}{query}", key=key)
    assert status == 200, body
    return dict(body)


def _delivered(local: Local, approval: ApprovalRequest) -> None:
    """The resume owed for the decision was taken by the worker: delivered, the run ended, no failed attempt."""
    run = wait_until(lambda: (r := local.store.runs.get_run(approval.thread_id)).outcome_posted_at and r, 10, "the run's end")
    assert local.store.requests.get(approval.id).resumed_at is not None
    assert run.status is RunStatus.DONE
    # (A lease taken after the delivery, by a duplicate job that found nothing owed, counts an attempt; a failure
    # is what the audit log would show.)
    failed = [e for e in local.store.audit_log.audit_events() if e.event == "attempt_failed"]
    assert not [e for e in failed if e.detail.get("thread_id") == approval.thread_id]


def test_asking_posts_the_request_in_slack_via_the_api_with_its_context(local: Local, key: str) -> None:
    approval = _asked(local, key, "api-1")

    text = json.dumps(local.message(approval)["blocks"])
    assert "via the API" in text
    assert "Refund a damaged parcel, order api-1" in text
    assert "The customer sent a photo" in text
    assert "https://crm.example/orders/api-1" in text
    assert "<@U0ASKER>" in text
    assert approval.kind == "api" and approval.run.agent == "payments" and approval.run.status is RunStatus.WAITING
    assert _read(local, key, approval) == {
        "id": approval.id,
        "agent": "payments",
        "tool": "refund",
        "status": "pending",
        "decision": None,
    }


def test_approved_in_slack_reads_approved_with_the_proposed_arguments(local: Local, key: str) -> None:
    approval = _asked(local, key, "api-2")

    assert local.click("U0APPROVER", ActionId.APPROVE, approval).status == 200

    read = _read(local, key, approval, wait=10)
    assert read["status"] == "approved"
    assert read["decision"]["outcome"] == "approved"
    assert read["decision"]["arguments"] == {"order_id": "api-2", "amount": 250.0}
    assert read["decision"]["message"] is None
    assert read["decision"]["decided_by"] == "U0APPROVER"
    assert read["decision"]["decided_at"]
    _delivered(local, approval)


def test_a_delegates_approval_reads_whom_they_stood_in_for(local: Local, key: str) -> None:
    local.policies(Rule(name="boss refunds", tool="refund", when="amount == 8011", approvers=["U0APIBOSS"]))
    local.store.people.set_away("U0APIBOSS", "U0APIDEPUTY", None)
    approval = _asked(local, key, "api-8011", amount=8011.0)

    assert local.click("U0APIDEPUTY", ActionId.APPROVE, approval).status == 200

    decision = _read(local, key, approval, wait=10)["decision"]
    assert (decision["decided_by"], decision["decided_for"]) == ("U0APIDEPUTY", "U0APIBOSS")


def test_whoever_the_call_acts_for_may_not_approve_it(local: Local, key: str) -> None:
    approval = _asked(local, key, "api-2s")

    local.click("U0ASKER", ActionId.APPROVE, approval)

    assert _read(local, key, approval)["status"] == "pending"


def test_a_held_read_answers_as_soon_as_a_person_decides(local: Local, key: str) -> None:
    approval = _asked(local, key, "api-3")
    clicker = threading.Timer(0.5, lambda: local.click("U0APPROVER", ActionId.APPROVE, approval))
    clicker.start()

    started = time.monotonic()
    read = _read(local, key, approval, wait=30)

    clicker.join()
    assert read["status"] == "approved"
    assert 0.4 < time.monotonic() - started < 10


def test_a_held_read_of_an_undecided_approval_answers_pending_when_the_wait_ends(local: Local, key: str) -> None:
    approval = _asked(local, key, "api-4")

    started = time.monotonic()
    read = _read(local, key, approval, wait=0.5)

    assert read["status"] == "pending"
    assert time.monotonic() - started >= 0.5


def test_a_read_past_the_held_reads_the_process_allows_answers_at_once(local: Local, key: str) -> None:
    approval = _asked(local, key, "api-4h")
    held = local.web.prefixes[API_PREFIX].approvals.held  # type: ignore[attr-defined]
    taken = 0
    while held.acquire(blocking=False):
        taken += 1
    try:
        started = time.monotonic()
        read = _read(local, key, approval, wait=30)
    finally:
        for _ in range(taken):
            held.release()

    assert taken == HELD_READS
    assert read["status"] == "pending" and time.monotonic() - started < 5


def test_edited_in_slack_reads_edited_with_the_arguments_a_person_changed(local: Local, key: str) -> None:
    approval = _asked(local, key, "api-5", arguments_schema=SCHEMA)
    view = local.open_modal("U0APPROVER", ActionId.EDIT, approval).response["view"]
    values = {
        BlockId.for_arg("order_id"): {ActionId.ARG_VALUE: plain_text_value("api-5")},
        BlockId.for_arg("amount"): {ActionId.ARG_VALUE: number_value("200")},
    }

    assert local.driver.view_submission("U0APPROVER", view, values).status == 200

    read = _read(local, key, approval, wait=10)
    assert read["status"] == "edited"
    assert read["decision"]["arguments"] == {"order_id": "api-5", "amount": 200}
    _delivered(local, approval)


def test_rejected_in_slack_reads_rejected_with_the_reason_and_no_arguments(local: Local, key: str) -> None:
    approval = _asked(local, key, "api-6")

    local.answer("U0APPROVER", ActionId.REJECT, approval, "Not without the receipt")

    read = _read(local, key, approval, wait=10)
    assert read["status"] == "rejected"
    assert read["decision"]["arguments"] is None
    assert read["decision"]["message"] == "Not without the receipt"
    _delivered(local, approval)


def test_replied_to_in_slack_reads_answered_with_the_reply_and_no_arguments(local: Local, key: str) -> None:
    approval = _asked(local, key, "api-6r")

    local.answer("U0APPROVER", ActionId.RESPOND, approval, "Offer a voucher instead")

    read = _read(local, key, approval, wait=10)
    assert read["status"] == "answered"
    assert read["decision"]["arguments"] is None
    assert read["decision"]["message"] == "Offer a voucher instead"
    _delivered(local, approval)


def test_nobody_deciding_before_the_deadline_reads_expired(local: Local, key: str) -> None:
    approval = _asked(local, key, "api-7")
    assert approval.deadline_at is not None

    local.fire_due(approval.deadline_at + timedelta(seconds=1))

    read = _read(local, key, approval)
    assert read["status"] == "expired"
    assert read["decision"]["arguments"] is None
    _delivered(local, approval)


def test_a_call_an_auto_rule_covers_is_approved_at_once_and_never_posted(local: Local, key: str) -> None:
    local.policies(TINY_REFUNDS)

    status, body = local.api("POST", "/v1/approvals", _ask("api-8", amount=0.5), key)

    assert status == 201
    assert body["status"] == "approved"
    assert body["decision"]["decided_by"] == "countersign:policy"
    assert body["decision"]["arguments"] == {"order_id": "api-8", "amount": 0.5}
    approval = local.store.requests.get(body["id"])
    assert local.posted(approval) is None
    local.work()
    _delivered(local, approval)


def test_asking_again_with_the_same_idempotency_key_returns_the_same_approval(local: Local, key: str) -> None:
    first = _asked(local, key, "api-9", idempotency_key="order-api-9")

    status, again = local.api("POST", "/v1/approvals", _ask("api-9", idempotency_key="order-api-9"), key)

    assert status == 200
    assert again["id"] == first.id
    channel = local.posted(first)
    assert channel is not None
    assert len([m for m in local.slack.messages(channel.channel) if first.id in json.dumps(m)]) == 1
    # Another agent's key may use the same idempotency key for an approval of its own.
    other = local.store.api_keys.create("shipping")[1]
    theirs_asked = {**_ask("api-9", idempotency_key="order-api-9"), "agent": "shipping"}
    status, theirs = local.api("POST", "/v1/approvals", theirs_asked, other)
    assert status == 201 and theirs["id"] != first.id


def test_a_request_stored_before_a_crash_is_finished_and_shown_when_asked_again(local: Local, key: str) -> None:
    body = _ask("api-10", idempotency_key="order-api-10")
    # What a crash right after recording the ask leaves: the row, no approval yet, nothing shown.
    local.store.api_keys.ask("b" * 32, "payments", "order-api-10", body)

    status, again = local.api("POST", "/v1/approvals", body, key)

    assert status == 200 and again["id"] == "b" * 32 and again["status"] == "pending"
    approval = local.store.requests.get("b" * 32)
    assert approval.shown_at is not None and local.posted(approval) is not None


def test_the_callers_report_is_stored_and_audited(local: Local, key: str) -> None:
    approval = _asked(local, key, "api-11")
    local.click("U0APPROVER", ActionId.APPROVE, approval)
    report = {"ok": True, "output": {"refund_id": "re_123"}, "error": None}

    status, body = local.api("POST", f"/v1/approvals/{approval.id}/result", report, key)

    assert status == 200 and body == {"result": report}
    assert local.store.api_keys.asked(approval.id).result == report  # type: ignore[union-attr]
    audited = [e for e in local.store.audit_log.audit_events(approval.id) if e.event == "api_result"]
    assert [e.detail for e in audited] == [{"agent": "payments", **report}]


def _error(status_and_body: tuple[int, Any]) -> tuple[int, str, str | None]:
    status, body = status_and_body
    return status, body["error"]["code"], body["error"].get("field")


def test_a_missing_unknown_or_revoked_key_is_unauthorized(local: Local, key: str) -> None:
    record, revoked = local.store.api_keys.create("payments")
    local.store.api_keys.revoke(record.id)

    for presented in (None, "csk_nope", revoked):
        assert _error(local.api("POST", "/v1/approvals", _ask("api-12"), presented)) == (401, "unauthorized", None)
    assert _error(local.api("GET", "/v1/approvals/" + "a" * 32, key="")) == (401, "unauthorized", None)
    assert _error(local.api("GET", "/v1/approvals/" + "a" * 32, headers={"Authorization": f"Basic {key}"})) == (
        401,
        "unauthorized",
        None,
    )


def test_another_agents_key_may_neither_ask_for_it_nor_read_its_approvals(local: Local, key: str) -> None:
    approval = _asked(local, key, "api-13")
    other = local.store.api_keys.create("shipping")[1]

    assert _error(local.api("POST", "/v1/approvals", _ask("api-13"), other)) == (403, "forbidden", "agent")
    assert _error(local.api("GET", f"/v1/approvals/{approval.id}", key=other)) == (403, "forbidden", None)
    assert _error(local.api("POST", f"/v1/approvals/{approval.id}/result", {"ok": True}, other)) == (403, "forbidden", None)


def test_an_unknown_approval_or_route_is_not_found(local: Local, key: str) -> None:
    assert _error(local.api("GET", "/v1/approvals/" + "c" * 32, key=key)) == (404, "not_found", None)
    assert _error(local.api("GET", "/v1/approvals/not-an-id", key=key)) == (404, "not_found", None)
    assert _error(local.api("GET", "/v1/nothing", key=key)) == (404, "not_found", None)
    # A request an agent run made (not the API) is no API approval.
    run_request = local.start_run("Refund order #1313 for $250")
    assert _error(local.api("GET", f"/v1/approvals/{run_request.id}", key=key)) == (404, "not_found", None)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"arguments": [1, 2]}, "arguments"),
        ({"arguments": None}, "arguments"),
        ({"tool": ""}, "tool"),
        ({"agent": 7}, "agent"),
        ({"requested_by": "<!channel>"}, "requested_by"),
        ({"context": {"link": "javascript:alert(1)"}}, "context.link"),
        ({"context": "hello"}, "context"),
        ({"idempotency_key": "k" * 201}, "idempotency_key"),
        ({"surprise": 1}, "surprise"),
        ({"context": {"summary": "nul \u0000 here"}}, "context.summary"),
        ({"idempotency_key": "\u0000"}, "idempotency_key"),
    ],
)
def test_a_bad_field_is_invalid_and_named(local: Local, key: str, change: dict[str, Any], field: str) -> None:
    assert _error(local.api("POST", "/v1/approvals", {**_ask("api-14"), **change}, key)) == (400, "invalid", field)


def test_a_missing_field_is_invalid_and_named(local: Local, key: str) -> None:
    body = _ask("api-15")
    del body["arguments"]

    assert _error(local.api("POST", "/v1/approvals", body, key)) == (400, "invalid", "arguments")


def test_a_body_over_64_kb_is_too_large(local: Local, key: str) -> None:
    huge = _ask("api-16", arguments_schema={"description": "x" * 70_000})

    assert _error(local.api("POST", "/v1/approvals", huge, key)) == (413, "too_large", None)
    # Claimed small, sent large: read no further than the limit.
    raw = json.dumps(huge).encode()
    assert _error(local.api("POST", "/v1/approvals", key=key, raw=raw, headers={"Content-Length": "-1"}))[0] in (400, 413)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'"a string"',
        b"[" * 100_00 + b"]" * 100_00,
        b'{"agent": "payments", "tool": "refund", "arguments": {"a": NaN}}',
    ],
)
def test_hostile_bodies_are_answered_with_a_json_error_never_a_500(local: Local, key: str, raw: bytes) -> None:
    status, body = local.api("POST", "/v1/approvals", key=key, raw=raw)

    assert 400 <= status < 500, body
    assert set(body) == {"error"} and body["error"]["code"] in {"invalid", "too_large"}


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("DELETE", "/v1/approvals", {}),
        ("PUT", "/v1/approvals/" + "a" * 32, {}),
        ("GET", "/v1/approvals/" + "a" * 32 + "/result", {}),
        ("GET", "/v1/approvals/../../etc/passwd", {}),
        ("GET", "/v1/approvals/%00", {}),
        ("GET", "/v1/" + "x" * 10_000, {}),
        ("POST", "/v1/approvals", {"Authorization": "Bearer \u00e9\u00e9"}),
        ("POST", "/v1/approvals", {"Authorization": "Bearer " + "k" * 100_000}),
        ("POST", "/v1/approvals", {"Content-Length": "lots"}),
        ("POST", "/v1/approvals", {"Content-Length": "99999999999999999999"}),
    ],
)
def test_hostile_requests_are_answered_with_a_json_error_never_a_500(
    local: Local, key: str, method: str, path: str, headers: dict[str, str]
) -> None:
    status, body = local.api(method, path, _ask("api-hostile"), key, headers=headers)

    assert 400 <= status < 500, body
    assert set(body) == {"error"} and set(body["error"]) >= {"code", "message"}


@pytest.mark.parametrize("wait", ["abc", "-1", "61", "nan", "inf", "1e400"])
def test_a_bad_wait_is_invalid_and_named(local: Local, key: str, wait: str) -> None:
    approval = _asked(local, key, f"api-17-{wait}")

    assert _error(local.api("GET", f"/v1/approvals/{approval.id}?wait={wait}", key=key)) == (400, "invalid", "wait")


def test_slacks_own_paths_are_still_the_bots(local: Local) -> None:
    status: list[str] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz", "wsgi.input": None}
    assert b"".join(local.web(environ, lambda line, _h: status.append(line))) == b"ok" and status == ["200 OK"]
    status.clear()
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/slack/events", "wsgi.input": None}
    assert b"".join(local.web(environ, lambda line, _h: status.append(line))) == b"Not Found" and status == ["404 Not Found"]


def _http(method: str, url: str, key: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"Bearer {key}"})
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_real_bot_serves_the_api_ask_approve_in_slack_and_long_poll(stack: Stack) -> None:
    key = stack.store.api_keys.create("payments")[1]
    base = f"http://127.0.0.1:{stack.port}/v1/approvals"

    status, asked = _http("POST", base, key, _ask("api-stack-1", idempotency_key="stack-1"))
    assert status == 201, asked
    approval = wait_until(
        lambda: (a := stack.store.requests.get(asked["id"])).shown_at and stack.posted(a) and a, 20, "the request in Slack"
    )
    assert "via the API" in json.dumps(stack.message(approval)["blocks"])
    clicker = threading.Timer(0.5, lambda: stack.click("U0APPROVER", ActionId.APPROVE, approval))
    clicker.start()

    status, read = _http("GET", f"{base}/{approval.id}?wait=30", key)

    clicker.join()
    assert status == 200 and read["status"] == "approved"
    assert read["decision"]["arguments"] == {"order_id": "api-stack-1", "amount": 250.0}
    # The worker takes the resume the decision owes, and the API request's run ends without a failed attempt.
    wait_until(lambda: stack.store.requests.get(approval.id).resumed_at, 20, "the resume")
    run = wait_until(lambda: (r := stack.store.runs.get_run(approval.thread_id)).outcome_posted_at and r, 20, "the run's end")
    assert run.status is RunStatus.DONE
    failed = [e for e in stack.store.audit_log.audit_events() if e.event == "attempt_failed"]
    assert not [e for e in failed if e.detail.get("thread_id") == approval.thread_id]


def test_a_request_slack_could_not_show_when_asked_is_shown_by_a_worker_from_sql(local: Local, key: str) -> None:
    local.slack.fail("chat.postMessage", "internal_error", times=1, token=local.bot_token)

    status, body = local.api("POST", "/v1/approvals", _ask("9120"), key)

    assert status == 201 and body["status"] == "pending"  # stored, and said so, though Slack refused it
    approval = local.store.requests.get(body["id"])
    local.work()
    shown = wait_until(lambda: local.posted(approval) and local.store.requests.get(approval.id), 10, "the request's message")
    assert shown.shown_at is not None
    assert local.store.runs.get_run(approval.thread_id).status is RunStatus.WAITING
    local.click("U0APPROVER", ActionId.APPROVE, shown)
    assert _read(local, key, shown, wait=10)["status"] == "approved"


def test_a_body_that_names_no_agent_asks_for_the_keys_agent(local: Local, key: str) -> None:
    body = _ask("9130")
    del body["agent"]

    status, answer = local.api("POST", "/v1/approvals", body, key)

    assert status == 201 and answer["agent"] == "payments"
