"""Countersign's HTTPS connections (to Slack's API, to an API caller's webhook) share one TLS context a process.

Python's urllib, under slack_sdk's clients, makes a new default context for each connection it is given none for,
and each loads the trusted certificates again: with a system's bundle, several times the CPU of the rest of a Slack
call (`python bench/slack_latency.py --tls`). Here the emulator serves Slack's API over HTTPS with a
certificate of a test CA, the only one trusted (`SSL_CERT_FILE`), and each test counts the loads.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import pytest
import trustme

from approvals.settings import Settings
from approvals.store.api_keys import Webhook
from approvals.tls import tls_context
from bot.slack_client import create_slack_client
from sandbox.emulator import Channel, SlackEmulator
from worker.webhooks import post


@pytest.fixture
def ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[trustme.CA]:
    """A certificate authority this process trusts alone, for the test."""
    authority = trustme.CA()
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    tls_context.cache_clear()
    yield authority
    tls_context.cache_clear()


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@contextmanager
def _certificates_loaded() -> Iterator[list[int]]:
    """How many times the trusted certificates were loaded inside the block (a context each)."""
    loads = [0]
    real = ssl.SSLContext.load_default_certs

    def counted(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads[0] += 1
        real(self, *args, **kwargs)

    with mock.patch.object(ssl.SSLContext, "load_default_certs", counted):
        yield loads


@pytest.fixture
def slack_over_https(ca: trustme.CA) -> Iterator[SlackEmulator]:
    slack = SlackEmulator(channels=[Channel("C0TLS", "tls")]).start(tls=_server_context(ca))
    yield slack
    slack.stop()


def test_the_slack_client_loads_the_trusted_certificates_once_for_all_its_calls(slack_over_https: SlackEmulator) -> None:
    settings = Settings(slack_bot_token="xoxb-tls", slack_api_url=slack_over_https.base_url, database_url="sqlite://")
    assert slack_over_https.base_url.startswith("https://")

    with _certificates_loaded() as loads:
        client = create_slack_client(settings)
        for n in range(3):
            client.chat_postMessage(channel="C0TLS", text=f"request {n}")
        client.chat_update(channel="C0TLS", ts=slack_over_https.messages("C0TLS")[0]["ts"], text="decided")

    assert loads == [1]
    assert [m["text"] for m in slack_over_https.messages("C0TLS")] == ["decided", "request 1", "request 2"]


class _Callback(http.server.BaseHTTPRequestHandler):
    """An API caller's webhook: keeps each body it is sent, answers 204."""

    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhooks_sent_over_https_load_the_trusted_certificates_once(ca: trustme.CA) -> None:
    _Callback.received.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Callback)
    server.socket = _server_context(ca).wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    webhook = Webhook(url=f"https://127.0.0.1:{server.server_address[1]}/decided", secret="s3cret")
    try:
        with _certificates_loaded() as loads:
            statuses = [post(webhook, json.dumps({"id": n}).encode()) for n in range(3)]
    finally:
        server.shutdown()
        server.server_close()

    assert statuses == [204, 204, 204] and _Callback.received == [{"id": 0}, {"id": 1}, {"id": 2}]
    assert loads == [1]
