"""The HTTP layer in front of the emulator: decodes requests the way Slack accepts them and routes
them to the Web API methods or to a response_url."""

from __future__ import annotations

import contextlib
import json
import ssl
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.loopback import send_json
from sandbox.web_api.core import DROPPED

if TYPE_CHECKING:
    from sandbox.emulator import SlackEmulator

# Form-encoded clients send these as JSON strings; tests want objects.
_JSON_STRING_FIELDS = ("blocks", "view", "attachments", "metadata")


def make_handler(emulator: SlackEmulator) -> type[BaseHTTPRequestHandler]:
    """The request handler class serving ``emulator``: ``/api/<method>`` and ``/response/<name>``."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "SlackEmulator/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def _dispatch(self, http_method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                params = dict(parse_qsl(url.query, keep_blank_values=True))
                params.update(_decode_body(self.headers.get("Content-Type", ""), raw))
            except ValueError as exc:
                self._send(
                    200,
                    {},
                    {"ok": False, "error": "invalid_json" if raw[:1] in b"{[" else "invalid_form_data", "detail": str(exc)},
                )
                return
            for key in _JSON_STRING_FIELDS:
                if isinstance(params.get(key), str) and params[key][:1] in ("[", "{"):
                    with contextlib.suppress(ValueError):  # Slack would reject it; leave it visible to the test as sent
                        params[key] = json.loads(params[key])
            if url.path.startswith("/response/") and http_method == "POST":
                status, body = emulator._handle_response_url(url.path[len("/response/") :], params)
                self._send(status, {}, body)
                return
            if not url.path.startswith("/api/") or len(url.path) <= len("/api/"):
                self._send(404, {}, {"ok": False, "error": "not_found"})
                return
            method = url.path[len("/api/") :]
            if emulator.latency:
                time.sleep(emulator.latency)  # on this request's own thread: other calls are answered meanwhile
            token = _bearer(self.headers.get("Authorization")) or params.pop("token", None)
            params.pop("token", None)
            status, headers, body = emulator._handle(method, params, token, http_method)
            if status == DROPPED:
                self.close_connection = True  # as a connection reset mid-call: no answer at all
                return
            self._send(status, headers, body)

        def _send(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
            # A client that went away while it waited (a process stopped mid-call) is not told anything, as by Slack;
            # over HTTPS its going shows as an EOF.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLEOFError):
                send_json(self, status, body, headers)

    return Handler


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _decode_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """Decode a request body the way Slack accepts them: JSON, urlencoded or multipart."""
    if not raw:
        return {}
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/json":
        decoded = json.loads(raw.decode("utf-8"))
        if not isinstance(decoded, dict):
            raise ValueError("JSON body must be an object")
        return decoded
    if mime == "multipart/form-data":
        # slack_sdk uses multipart whenever a method is called with data=...
        message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw)
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            payload = part.get_payload(decode=True) or b""
            fields[str(name)] = payload if part.get_filename() else payload.decode("utf-8")
        return fields
    return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
