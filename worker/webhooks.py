"""Webhooks of the approval API: a decided approval's JSON, as `GET /v1/approvals/{id}` answers it, POSTed to
the caller's callback URL and signed with the asking key's secret (docs/api.md, Webhooks).

A delivery that is not acknowledged (a 2xx answer) raises, so the runtime records a failed attempt and the
dispatcher retries it from SQL with the runtime's backoff; each attempt is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import time
import urllib.parse
from collections.abc import Callable
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


def _routable(host: str) -> list[str]:
    """The addresses `host` resolves to; `WebhookFailed` when any is link-local, multicast, reserved or unspecified:
    a callback URL must not reach the worker's cloud metadata service or the like (loopback and private networks
    stay allowed: a caller beside the worker is common)."""
    try:
        found = list(dict.fromkeys(str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)))
    except (OSError, UnicodeError) as error:
        raise WebhookFailed(f"{host!r} does not resolve: {error}") from None
    for address in found:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        # IPv6's loopback lies in a reserved block (::/8), and is allowed as IPv4's is.
        if ip.is_link_local or ip.is_multicast or (ip.is_reserved and not ip.is_loopback) or ip.is_unspecified:
            raise WebhookFailed(f"{host!r} resolves to {ip}, which a webhook may not reach")
    return found


def _connecting_to(addresses: list[str]) -> Callable[..., socket.socket]:
    """What opens a connection's socket: to the addresses vetted, in turn, never to a second lookup of the name."""

    def connect(address: tuple[str, int], timeout: float | None = None, source: Any = None) -> socket.socket:
        failed: OSError = OSError(f"{address[0]!r} has no address")
        for ip in addresses:
            try:
                return socket.create_connection((ip, address[1]), timeout, source)
            except OSError as error:
                failed = error
        raise failed

    return connect


class _To(http.client.HTTPConnection):
    """A connection to the addresses `_routable` vetted: a name that resolves elsewhere when looked up again (DNS
    rebinding) cannot lead the signed decision where a webhook may not go."""

    def __init__(self, host: str, port: int, addresses: list[str]) -> None:
        super().__init__(host, port, timeout=TIMEOUT_SECONDS)
        self._create_connection = _connecting_to(addresses)


class _ToOverTls(http.client.HTTPSConnection):
    """`_To` over TLS: the certificate is still checked against the URL's name."""

    def __init__(self, host: str, port: int, addresses: list[str]) -> None:
        super().__init__(host, port, timeout=TIMEOUT_SECONDS, context=tls_context())
        self._create_connection = _connecting_to(addresses)


def post(webhook: Webhook, body: bytes) -> int:
    """POST a signed body to the webhook's URL; its status when 2xx, else `WebhookFailed`. No redirect is followed:
    the signed decision goes to the callback URL only (a 3xx is a failed attempt)."""
    try:
        url = urllib.parse.urlsplit(webhook.url)
        tls = url.scheme == "https"
        # Always a port: http.client would read the last group of an IPv6 address given without one as the port.
        host, port = url.hostname or "", url.port or (443 if tls else 80)
    except ValueError as error:
        raise WebhookFailed(f"ValueError: {error}") from None
    connection = (_ToOverTls if tls else _To)(host, port, _routable(host))
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Countersign-Webhook",
        "X-Countersign-Timestamp": timestamp,
        "X-Countersign-Signature": signature(webhook.secret, timestamp, body),
    }
    try:
        connection.request("POST", (url.path or "/") + (f"?{url.query}" if url.query else ""), body=body, headers=headers)
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        raise WebhookFailed(f"{type(error).__name__}: {error}") from None
    finally:
        connection.close()
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
