"""Slack's side of one request: signs a body exactly as Slack does and POSTs it to the app."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

__all__ = ["Response", "SignedSender"]


@dataclass
class Response:
    """What the app answered."""

    status: int
    body: str
    elapsed: float
    headers: dict[str, str] = field(default_factory=dict)
    # The payload that was sent (decoded), e.g. to read back the generated trigger_id.
    payload: dict[str, Any] | None = None

    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` if empty or not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


class SignedSender:
    """POSTs signed Slack requests to the app at ``url``."""

    def __init__(self, url: str, signing_secret: str, *, timeout: float = 30.0) -> None:
        """``timeout`` bounds each request, in seconds."""
        self.url = url
        self.signing_secret = signing_secret
        self._verifier = SignatureVerifier(signing_secret)
        self.timeout = timeout
        self.last_payload: dict[str, Any] | None = None
        # Bypass any *_proxy environment: everything here is loopback.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def sign(self, body: str | bytes, timestamp: int | str) -> str:
        """Slack's ``X-Slack-Signature`` for ``body`` sent at ``timestamp`` (slack_sdk's own signing)."""
        signature = self._verifier.generate_signature(timestamp=str(timestamp), body=body)
        assert signature is not None  # only None without a timestamp
        return signature

    def post(
        self,
        body: str | bytes,
        content_type: str,
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        payload: dict[str, Any] | None = None,
        before_send: Callable[[], object] | None = None,
    ) -> Response:
        """POST a raw ``body`` (text, or bytes as they are), signed unless ``signature`` overrides it.
        ``before_send`` is called once the request is built, just before it is sent (and timed): a bench
        lines up simultaneous requests with it, so that building them is not part of the burst."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature if signature is not None else self.sign(body, ts),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **(headers or {}),
        }
        data = body.encode("utf-8") if isinstance(body, str) else body
        request = urllib.request.Request(self.url, data=data, headers=all_headers, method="POST")
        self.last_payload = payload
        if before_send is not None:
            before_send()
        started = time.monotonic()
        try:
            with self._opener.open(request, timeout=self.timeout) as resp:
                status, raw, resp_headers = resp.status, resp.read(), dict(resp.headers.items())
        except urllib.error.HTTPError as err:
            status, raw, resp_headers = err.code, err.read(), dict(err.headers.items())
        elapsed = time.monotonic() - started
        return Response(
            status=status,
            body=raw.decode("utf-8", errors="replace"),
            elapsed=elapsed,
            headers=resp_headers,
            payload=payload,
        )

    def post_interactive(
        self,
        payload: dict[str, Any],
        *,
        timestamp: int | str | None = None,
        signature: str | None = None,
        before_send: Callable[[], object] | None = None,
    ) -> Response:
        """POST an interactivity ``payload`` form-encoded as ``payload=<json>``, as Slack does."""
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(
            body,
            "application/x-www-form-urlencoded",
            timestamp=timestamp,
            signature=signature,
            payload=payload,
            before_send=before_send,
        )
