"""What the sandbox's two loopback servers (the emulator's Web API and the page) share: serving from a
daemon thread, shutting down, and writing a response."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def serve_in_thread(server: ThreadingHTTPServer, name: str, poll_interval: float) -> threading.Thread:
    """Serve ``server`` from a started daemon thread (handlers in daemon threads too), so it never holds up exit."""
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=name, kwargs={"poll_interval": poll_interval}, daemon=True)
    thread.start()
    return thread


def shut_down(server: ThreadingHTTPServer | None, thread: threading.Thread | None) -> None:
    """Stop ``server`` (if any), release its port and wait a little for its thread."""
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout=5)


def send_bytes(
    handler: BaseHTTPRequestHandler, status: int, content_type: str, data: bytes, headers: dict[str, str] | None = None
) -> None:
    """Answer with ``data`` as the whole body (its length given), then any extra ``headers``."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def send_json(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    """Answer with ``body`` as JSON."""
    send_bytes(handler, status, "application/json; charset=utf-8", json.dumps(body).encode("utf-8"), headers)
