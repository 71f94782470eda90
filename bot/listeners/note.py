"""Approve with note: the "⋯" menu's option opens the note modal; its submission approves with the note
(recorded, then acked; a lost race is an inline error on the form)."""

from __future__ import annotations

import functools
from typing import Any

from slack_bolt import Ack, App

from approvals.models import DecisionType
from bot.confirm_modal import CONFIRM_WORD, confirmed
from bot.ids import BlockId, CallbackId
from bot.listeners.decisions import Decisions
from bot.listening import Listener, Listening
from bot.note_modal import needs_confirm, note_modal, submitted_note


def register(app: App, ctx: Listening) -> Listener:
    """Add the note modal's listener to `app`; returns the listener of the menu's "Approve with note…"."""
    listeners = NoteListeners(ctx)
    app.view(CallbackId.NOTE_MODAL)(ctx.explained_form(listeners.on_note_submitted))
    return listeners.on_note


class NoteListeners(Decisions):
    """Approving with a note, through the same steps as the other decision forms."""

    def on_note(self, ack: Ack, body: dict[str, Any]) -> None:
        """Approve with note…: open the modal, if the clicker may approve the call now."""
        ack()
        ref, approval, _ = self.ctx.load(body, DecisionType.APPROVE)
        self.ctx.open_view(body, note_modal(approval, ref.action, from_home=self.ctx.references.on_home(body)))

    def on_note_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The note modal submitted: approve with the note (and CONFIRM, under a manual rule)."""
        values = view["state"]["values"]
        note = submitted_note(values)
        if not note:
            ack(response_action="errors", errors={BlockId.NOTE: "Write a note, or close this and use Approve."})
            return
        ref, approval = self.ctx.references.request(body)
        if needs_confirm(approval, ref.action) and not confirmed(values):
            ack(response_action="errors", errors={BlockId.CONFIRM: f"Type {CONFIRM_WORD} (in capitals) to approve."})
            return
        decide = functools.partial(self.ctx.decide, body, DecisionType.APPROVE, message=note, confirmed=confirmed(values))
        self.submit(ack, body, decide, BlockId.NOTE)
