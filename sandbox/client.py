"""The Slack client's side of the sandbox: what happens when a person clicks, types or closes something.

Slack's own client turns a click into a signed request to the app and draws the app's answer;
this does the same with the driver and the emulator. Every gesture reaches the bot as Slack
would send it (signed, form-encoded, with a fresh `trigger_id` and `response_url`), and the
bot's acknowledgement is drawn as Slack draws it: a slash command's reply to the person only,
a modal's inline errors, a modal updated, pushed or closed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sandbox.driver import Response, SlackDriver
from sandbox.emulator import SlackApiFailure, SlackEmulator

__all__ = ["Outcome", "SandboxClient"]

log = logging.getLogger(__name__)

# The only command the sandbox's app declares (manifest.yml).
COMMAND = "/countersign"
# What Slack shows when the app does not answer a request properly, in its own words.
NO_ANSWER = "We had some trouble connecting. Try again?"


@dataclass
class Outcome:
    """What the page should show after a gesture, besides what the live state already shows."""

    ok: bool = True
    # Inline errors for a modal's inputs, by block id.
    errors: dict[str, str] = field(default_factory=dict)
    # A notice about the gesture itself (e.g. the app did not answer).
    notice: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON for the page."""
        return {"ok": self.ok, "errors": self.errors, "notice": self.notice}


_Gesture = TypeVar("_Gesture", bound=Callable[..., "Outcome"])


def _reaching_the_app(gesture: _Gesture) -> _Gesture:
    """A gesture whose request cannot reach the app (not started yet, or stopped) says so, as Slack does."""

    @functools.wraps(gesture)
    def run(*args: Any, **kwargs: Any) -> Outcome:
        try:
            return gesture(*args, **kwargs)
        except OSError as error:  # refused, reset or timed out: urllib raises OSError subclasses
            log.warning("the app could not be reached: %s", error)
            return Outcome(ok=False, notice=f"The app did not respond ({error}). Is the bot running?")

    return run  # type: ignore[return-value]


class SandboxClient:
    """Acts for the person using the page: every gesture goes to the app through ``driver``."""

    def __init__(self, emulator: SlackEmulator, driver: SlackDriver) -> None:
        self.emulator = emulator
        self.driver = driver

    # ------------------------------------------------------------------ the composer

    @_reaching_the_app
    def send(self, user: str, channel: str, text: str, thread_ts: str | None = None) -> Outcome:
        """What a person typed in a channel: a slash command for the app, or a message."""
        text = text.strip()
        if not text:
            return Outcome(ok=False)
        if not text.startswith("/"):
            self.emulator.post_as_user(channel, user, text, thread_ts)
            return Outcome()
        command, _, rest = text.partition(" ")
        if command != COMMAND:
            self.emulator.post_ephemeral(channel, user, f"`{command}` is not a valid command. Try `{COMMAND} help`.")
            return Outcome()
        try:
            response = self.driver.slash_command(
                user,
                COMMAND,
                self._escape(rest.strip()),
                channel_id=channel,
                channel_name=self.emulator.channel_name(channel),
                trigger_id=self.emulator.issue_trigger(user),
                response_url=self.emulator.response_url_for(channel, user, thread_ts=thread_ts),
            )
        except OSError:
            response = None
        if response is None or response.status != 200:
            # Slack's words when a command's request fails.
            self.emulator.post_ephemeral(channel, user, f'{COMMAND} failed with the error "dispatch_failed"')
            detail = f"HTTP {response.status}" if response else "the bot is not answering yet"
            return Outcome(ok=False, notice=f"{COMMAND} failed ({detail})")
        self._show_reply(channel, user, response, thread_ts)
        return Outcome()

    def _show_reply(self, channel: str, user: str, response: Response, thread_ts: str | None) -> None:
        """Draw a slash command's acknowledgement as Slack does: to the person only, unless in_channel."""
        if not response.body:
            return
        reply = response.json()
        if not isinstance(reply, dict):
            reply = {"text": response.body}
        if not reply.get("text") and not reply.get("blocks"):
            return
        # The reply lands as one posted to the command's response_url would, checked as Slack checks it.
        url = self.emulator.response_url_for(channel, user, thread_ts=thread_ts)
        answer = self.emulator.deliver_response(url, reply)
        if not answer.get("ok"):
            log.warning("Slack would refuse the app's reply to %s: %s", COMMAND, answer)

    def _escape(self, text: str) -> str:
        """Channels, people and groups named in a command, escaped as Slack sends them (`should_escape`)."""
        snapshot = self.emulator.snapshot()
        channels = {c["name"]: c["id"] for c in snapshot["channels"]}
        people = {u["name"]: u["id"] for u in snapshot["users"]}
        groups = {g["handle"]: g["id"] for g in snapshot["usergroups"]}

        def escape(match: re.Match[str]) -> str:
            sigil, name = match.group(1), match.group(2)
            if sigil == "#" and name in channels:
                return f"<#{channels[name]}|{name}>"
            if sigil == "@" and name in people:
                return f"<@{people[name]}|{name}>"
            if sigil == "@" and name in groups:
                return f"<!subteam^{groups[name]}|@{name}>"
            return match.group(0)

        return re.sub(r"(?<![<\w])([#@])([a-z0-9][a-z0-9._-]*)", escape, text)

    # ------------------------------------------------------------------ clicks

    @_reaching_the_app
    def act_on_message(
        self,
        user: str,
        channel: str,
        ts: str,
        action_id: str,
        value: Any,
        block_id: str | None = None,
        *,
        ephemeral: bool = False,
    ) -> Outcome:
        """Use a button, select or menu in a message (or in an ephemeral message shown to ``user``)."""
        if ephemeral:
            message = next((m for m in self.emulator.ephemerals(channel, user) if m["ts"] == ts), None)
        else:
            try:
                message = self.emulator.message(channel, ts)
            except KeyError:
                message = None
        if message is None:
            return Outcome(ok=False, notice="That message is gone.")
        response = self.driver.block_action(
            user,
            action_id,
            value,
            channel_id=channel,
            channel_name=self.emulator.channel_name(channel),
            message=message,
            block_id=block_id,
            is_ephemeral=ephemeral,
            trigger_id=self.emulator.issue_trigger(user),
            response_url=self.emulator.response_url_for(
                channel, user, message_ts=None if ephemeral else ts, thread_ts=message.get("thread_ts")
            ),
        )
        return _acknowledged(response)

    @_reaching_the_app
    def act_on_view(
        self,
        user: str,
        view_id: str,
        action_id: str,
        value: Any,
        block_id: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> Outcome:
        """Use an element of the user's App Home tab or of a modal open on their screen."""
        view = self._view(user, view_id)
        if view is None:
            return Outcome(ok=False, notice="That view is gone.")
        if values is not None and view.get("type") == "modal":
            self.emulator.save_view_state(view_id, values)
            view = {**view, "state": {"values": values}}
        response = self.driver.view_action(
            user,
            action_id,
            value,
            view=view,
            block_id=block_id,
            trigger_id=self.emulator.issue_trigger(user, view_id if view.get("type") == "modal" else None),
        )
        return _acknowledged(response)

    @_reaching_the_app
    def open_home(self, user: str) -> Outcome:
        """Open the app's Home tab: Slack tells the app (`app_home_opened`) every time."""
        event: dict[str, Any] = {"type": "app_home_opened", "user": user, "channel": f"D0{user[1:]}", "tab": "home"}
        with contextlib.suppress(KeyError):  # never published: Slack sends no view
            event["view"] = self.emulator.home_view(user)
        return _acknowledged(self.driver.event(event))

    # ------------------------------------------------------------------ modals

    @_reaching_the_app
    def submit(self, user: str, view_id: str, values: dict[str, Any]) -> Outcome:
        """Submit a modal with what was typed (``values`` in Slack's ``state.values`` shape)."""
        view = self._view(user, view_id)
        if view is None:
            return Outcome(ok=False, notice="That modal is gone.")
        self.emulator.save_view_state(view_id, values)
        response = self.driver.view_submission(user, view, values, trigger_id=self.emulator.issue_trigger(user, view_id))
        if response.status != 200:
            return Outcome(ok=False, notice=NO_ANSWER)
        parsed = response.json() if response.body else None
        answer: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        action = answer.get("response_action")
        try:
            if action is None:
                self.emulator.close_view(user, view_id)
            elif action == "errors":
                return Outcome(ok=False, errors={str(k): str(v) for k, v in (answer.get("errors") or {}).items()})
            elif action == "update":
                self.emulator.replace_view(view_id, answer.get("view"))
            elif action == "push":
                self.emulator.push_view(user, answer.get("view"))
            elif action == "clear":
                self.emulator.close_view(user, view_id, close_all=True)
            else:
                return Outcome(ok=False, notice=NO_ANSWER)
        except SlackApiFailure as failure:
            log.warning("the app answered a submission with a view Slack refuses: %s", failure)
            return Outcome(ok=False, notice=NO_ANSWER)
        return Outcome()

    @_reaching_the_app
    def close(self, user: str, view_id: str) -> Outcome:
        """Close a modal (Cancel or ×): the app hears of it when the view asked to (`notify_on_close`)."""
        view = self._view(user, view_id)
        if view is None:
            return Outcome()
        closed = self.emulator.close_view(user, view_id, close_all=bool(view.get("clear_on_close")))
        for gone in closed:
            if gone.get("notify_on_close"):
                self.driver.view_closed(user, gone, is_cleared=len(closed) > 1)
        return Outcome()

    def _view(self, user: str, view_id: str) -> dict[str, Any] | None:
        for view in self.emulator.modal_stack(user):
            if view["id"] == view_id:
                return view
        try:
            home = self.emulator.home_view(user)
        except KeyError:
            return None
        return home if home.get("id") == view_id else None


def _acknowledged(response: Response) -> Outcome:
    """Slack warns the person when the app does not acknowledge within 3 seconds, or fails."""
    if response.status == 200 and response.elapsed <= 3:
        return Outcome()
    detail = f"HTTP {response.status}" if response.status != 200 else f"{response.elapsed:.1f} s"
    return Outcome(ok=False, notice=f"The app did not respond ({detail}).")
