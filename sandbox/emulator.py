"""Loopback emulator of the Slack Web API: the tests' Slack, and the sandbox's.

Point a real ``slack_sdk.WebClient(token="xoxb-...", base_url=emulator.base_url)``
at it: every call is recorded (see :class:`Call`) and the methods an approval
app needs (messages, threads, ephemerals, modals, App Home, permalinks, users,
user groups, channel members) keep enough state to answer the way Slack does, including Slack's
error codes for the mistakes worth catching (re-used ``trigger_id``, unknown
``ts``, Block Kit that Slack would refuse: ``invalid_blocks``, ``invalid_arguments``). It answers at
once unless told otherwise: ``latency`` (seconds) holds each Web API answer as long as Slack's own take.

The sandbox page plays the Slack client on top of it: it issues the ``trigger_id``
and ``response_url`` of each interaction (:meth:`SlackEmulator.issue_trigger`,
:meth:`SlackEmulator.response_url_for`), so modals open for the person who clicked
and replies land where Slack would put them, and it reads the whole workspace back
with :meth:`SlackEmulator.snapshot`.

Example::

    with SlackEmulator() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        client.chat_postMessage(channel="C1", text="hi")
        call = slack.wait_for("chat.postMessage")
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable
from dataclasses import asdict
from http.server import ThreadingHTTPServer
from typing import Any

from sandbox.loopback import serve_in_thread, shut_down
from sandbox.socket_mode import SocketModeServer
from sandbox.web_api.calls import RecordedCalls
from sandbox.web_api.core import State
from sandbox.web_api.directory import MEMBERS_PAGE_DEFAULT as MEMBERS_PAGE_DEFAULT
from sandbox.web_api.directory import MEMBERS_PAGE_MAX as MEMBERS_PAGE_MAX
from sandbox.web_api.directory import DirectoryMethods
from sandbox.web_api.http import make_handler
from sandbox.web_api.records import APP_ID as APP_ID
from sandbox.web_api.records import BOT_ID as BOT_ID
from sandbox.web_api.records import (
    BOT_NAME,
    BOT_USER_ID,
    TEAM_ID,
    TEAM_NAME,
    TEAM_URL,
    Call,
    Channel,
    SlackApiFailure,
    User,
    copy_json,
)
from sandbox.web_api.responses import RESPONSE_URL_TTL_SECONDS as RESPONSE_URL_TTL_SECONDS
from sandbox.web_api.responses import ResponseUrls
from sandbox.web_api.views import MAX_VIEW_STACK as MAX_VIEW_STACK
from sandbox.web_api.views import TRIGGER_TTL_SECONDS as TRIGGER_TTL_SECONDS
from sandbox.web_api.views import ViewMethods

__all__ = ["Call", "Channel", "SlackApiFailure", "SlackEmulator", "User"]


class SlackEmulator(RecordedCalls, ResponseUrls, ViewMethods, DirectoryMethods):
    """A Slack Web API served on ``127.0.0.1`` from a daemon thread.

    ``users`` and ``channels`` name the workspace's members and channels (``users.info``
    answers with them; anyone else gets a generated profile, as tests click as users of
    their own).
    """

    def __init__(self, host: str = "127.0.0.1", *, users: Iterable[User] = (), channels: Iterable[Channel] = ()) -> None:
        super().__init__(host, users=users, channels=channels)
        self._handlers = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "conversations.members": self._conversations_members,
            "conversations.open": self._conversations_open,
            "apps.connections.open": self._apps_connections_open,
        }
        # Socket Mode's websocket, listening from the first `apps.connections.open` (sandbox/socket_mode.py).
        self.socket_mode = SocketModeServer(host, APP_ID)

    # ------------------------------------------------------------------ lifecycle

    def start(self, port: int = 0, tls: ssl.SSLContext | None = None) -> SlackEmulator:
        """Bind ``port`` (default: a free one) and serve in a daemon thread, over HTTPS with ``tls`` (a server
        context holding its certificate) when given, as Slack's own API is served. Returns ``self``."""
        if self._server is not None:
            return self
        self._server = ThreadingHTTPServer((self._host, port), make_handler(self))
        self._scheme = "http" if tls is None else "https"
        if tls is not None:
            # Each connection's handshake is made on its handler's thread (at its first read), not the accepting one.
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self._thread = serve_in_thread(self._server, "slack-emulator", 0.05)
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        self.socket_mode.stop()
        shut_down(server, thread)

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _apps_connections_open(self, _params: dict[str, Any]) -> dict[str, Any]:
        # Only an app-level token gets here (`RecordedCalls._handle` checks the token's type).
        return {"ok": True, "url": self.socket_mode.open_url()}

    # ------------------------------------------------------------------ test controls

    def reset(self) -> None:
        """Forget recorded calls, stored messages/views, rate limits and failures."""
        with self._lock:
            self._calls.clear()
            self._state = State()
            self._rate_limits.clear()
            self._failures.clear()
            self._bump()

    # ------------------------------------------------------------------ live view for the sandbox page

    @property
    def version(self) -> int:
        """A number that grows with every change to what Slack would show."""
        with self._lock:
            return self._version

    def wait_for_change(self, version: int, timeout: float) -> int:
        """Block until the state moves past ``version`` (or ``timeout`` passes); the current version."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._version <= version:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return self._version

    def snapshot(self) -> dict[str, Any]:
        """Everything a Slack client would draw, as JSON-ready data, with its version.

        Channels are the listed ones plus any that holds a message, in that order; each
        message carries its thread's replies under ``replies``.
        """
        with self._lock:
            channel_ids = list(dict.fromkeys([*self._channels, *self._state.messages]))
            channels = []
            for channel_id in channel_ids:
                stored = self._state.messages.get(channel_id, {})
                top = [m for m in stored.values() if m.get("thread_ts") in (None, m["ts"])]
                messages = []
                for message in top:
                    replies = [r for r in stored.values() if r.get("thread_ts") == message["ts"] and r is not message]
                    messages.append({**message, "replies": replies})
                channels.append({"id": channel_id, "name": self.channel_name(channel_id), "messages": messages})
            known_users = dict(self._users)
            for group in self._state.usergroups.values():
                for member in group["users"]:
                    known_users.setdefault(member, self.user(member))
            return copy_json(
                {
                    "version": self._version,
                    "team": {"id": TEAM_ID, "name": TEAM_NAME, "url": TEAM_URL},
                    "bot": {"user_id": BOT_USER_ID, "name": BOT_NAME},
                    "users": [asdict(u) for u in known_users.values()],
                    "usergroups": list(self._state.usergroups.values()),
                    "channels": channels,
                    "ephemerals": self._state.ephemerals,
                    "home_views": self._state.home_views,
                    "modals": {
                        user: [self._state.views[v] for v in stack] for user, stack in self._state.modal_stacks.items() if stack
                    },
                }
            )
