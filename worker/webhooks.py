"""Webhooks of the approval API: a decided approval's JSON, as `GET /v1/approvals/{id}` answers it, POSTed to
the caller's callback URL and signed with the asking key's secret (docs/api.md, Webhooks).

A delivery that is not acknowledged (a 2xx answer) raises, so the runtime records a failed attempt and the
dispatcher retries it from SQL with the runtime's backoff; each attempt is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from approvals.api_view import approval_json
from approvals.models import ApprovalRequest
from approvals.store import Store
from approvals.store.api_keys import Webhook
from approvals.tls import tls_context

# A caller's endpoint answers at once or is treated as down: a job process waits on it.
TIMEOUT_SECONDS = 5.0
SIGNATURE_VERSION = "v1"


class WebhookFailed(RuntimeError):
    """The callback URL did not acknowledge the decision: `status` when it answered other than 2xx, else None."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v1=<hex HMAC-SHA256(secret, "v1:{timestamp}:{body}")>`, the `X-Countersign-Signature` header."""
    signed = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    return f"{SIGNATURE_VERSION}=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Follows no redirect: the signed decision goes to the callback URL only (and urllib would turn a redirected
    POST into a GET without its body). urllib then raises the 3xx as an `HTTPError`: a failed attempt."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


def _refuse_unroutable(url: str) -> None:
    """`WebhookFailed` for a host that resolves to a link-local, multicast, reserved or unspecified address: a
    callback URL must not reach the worker's cloud metadata service or the like (loopback and private
    networks stay allowed: a caller beside the worker is common)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        found = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError) as error:
        raise WebhookFailed(f"{host!r} does not resolve: {error}") from None
    for address in found:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
            raise WebhookFailed(f"{host!r} resolves to {ip}, which a webhook may not reach")


def post(webhook: Webhook, body: bytes) -> int:
    """POST a signed body to the webhook's URL; its status when 2xx, else `WebhookFailed`."""
    _refuse_unroutable(webhook.url)
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        webhook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Countersign-Webhook",
            "X-Countersign-Timestamp": timestamp,
            "X-Countersign-Signature": signature(webhook.secret, timestamp, body),
        },
    )
    try:
        opener = urllib.request.build_opener(_NoRedirects, urllib.request.HTTPSHandler(context=tls_context()))
        with opener.open(request, timeout=TIMEOUT_SECONDS) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as error:
        raise WebhookFailed(f"answered {error.code}", error.code) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise WebhookFailed(f"{type(error).__name__}: {getattr(error, 'reason', error)}") from None
    if not 200 <= status < 300:
        raise WebhookFailed(f"answered {status}", status)
    return status


def deliver(store: Store, approval: ApprovalRequest) -> bool:
    """POST the decided approval to its callback URL, auditing the attempt; False when it has none.
    Raises `WebhookFailed` when the caller did not acknowledge it."""
    webhook = store.api_keys.webhook_of(approval.id)
    if webhook is None:
        return False
    body = json.dumps(approval_json(approval), separators=(",", ":")).encode()
    try:
        status = post(webhook, body)
    except WebhookFailed as error:
        detail = {"url": webhook.url, "error": str(error), "status": error.status}
        store.audit_log.audit("webhook_failed", approval.id, None, detail)
        raise
    store.audit_log.audit("webhook_delivered", approval.id, None, {"url": webhook.url, "status": status})
    return True


def given_up(store: Store, thread_id: str, attempts: int, ref: str) -> None:
    """Audit each webhook a run that failed for good still owed (an API run owes at most one)."""
    for approval_id in store.due.other_resumes_owed(thread_id):
        webhook = store.api_keys.webhook_of(approval_id)
        if webhook is not None:
            store.audit_log.audit("webhook_given_up", approval_id, None, {"url": webhook.url, "attempts": attempts, "ref": ref})
