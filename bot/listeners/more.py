"""The "⋯" menu beside a call's buttons (`bot.more_menu`): each option is handed to the listener of what it does."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from approvals.errors import CountersignError
from bot.ids import ActionId
from bot.listening import Listener, Listeners, Listening
from bot.more_menu import More, chosen


class NotOffered(CountersignError):
    """A menu option this app does not serve (a message drawn by another version of it)."""


def register(app: App, ctx: Listening, handlers: dict[More, Listener] | None = None) -> None:
    """Add the menu's listener to `app`; `handlers` serve its options, by what they do."""
    app.action(ActionId.MORE)(ctx.explained(MoreMenu(ctx, dict(handlers or {})).on_chosen))


class MoreMenu(Listeners):
    """Hands a chosen option to the listener of what it does, as if its own button had been clicked."""

    def __init__(self, ctx: Listening, handlers: dict[More, Listener]) -> None:
        super().__init__(ctx)
        self.handlers = handlers

    def on_chosen(self, ack: Ack, body: dict[str, Any]) -> None:
        """An option was chosen: its handler gets the click with the option's reference as the button value."""
        clicked = body["actions"][0]
        intent, ref = chosen((clicked.get("selected_option") or {}).get("value"))
        handler = self.handlers.get(intent)
        if handler is None:
            ack()
            raise NotOffered(f"“{clicked['selected_option'].get('text', {}).get('text', intent.value)}” is not offered here.")
        as_button = {**body, "actions": [{**clicked, "value": ref, "selected_option": None}]}
        handler(ack, as_button)
