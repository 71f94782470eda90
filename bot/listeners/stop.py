"""Stopping a run: the Stop button on its progress message and `/countersign stop <run>` open a confirmation
modal; its submission stops the run through the core (`approvals.stopping`), then the thread is told."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from approvals.errors import CountersignError
from approvals.models import Status
from approvals.stopping import Stopping
from bot.explain import explain
from bot.ids import ActionId, CallbackId
from bot.listening import Listeners, Listening
from bot.stop_modal import RunRef, stop_modal, stop_reason


def register(app: App, ctx: Listening) -> None:
    """Add the Stop button's, the stop modal's and `/countersign stop`'s listeners."""
    listeners = StopListeners(ctx, Stopping(ctx.store, ctx.admin.is_admin, ctx.deciding.front_end))
    app.action(ActionId.STOP_RUN)(ctx.explained(listeners.on_stop))
    app.view(CallbackId.STOP_MODAL)(ctx.explained_form(listeners.on_stop_submitted))
    ctx.slash.subcommands["stop"] = listeners.on_command


class StopListeners(Listeners):
    """The listeners that stop a run, or open the modal that will."""

    def __init__(self, ctx: Listening, stopping: Stopping) -> None:
        super().__init__(ctx)
        self.stopping = stopping

    def _confirm(self, body: dict[str, Any], ref: str) -> None:
        """Open the confirmation modal for the run `ref` names, if the person may stop it now (else raise why not)."""
        run = self.stopping.find(ref)
        self.stopping.check(run, body["user_id"] if "user_id" in body else body["user"]["id"])
        pending = sum(r.status is Status.PENDING for r in self.ctx.store.lists.requests_for_thread(run.thread_id))
        self.ctx.open_view(body, stop_modal(run, pending))

    def on_stop(self, ack: Ack, body: dict[str, Any]) -> None:
        """Stop run (the progress message's button): confirm first."""
        ack()
        self._confirm(body, str(body["actions"][0].get("value") or ""))

    def on_command(self, command: dict[str, Any]) -> dict[str, Any]:
        """`/countersign stop <run>`: confirm first; a refusal is the command's ephemeral answer."""
        words = str(command.get("text") or "").split()
        if len(words) != 2:
            return _ephemeral("Usage: `/countersign stop <run>` (the run's id is on its progress message and its requests).")
        try:
            self._confirm(command, words[1])
        except CountersignError as error:
            return _ephemeral(explain(error))
        return {}

    def on_stop_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The confirmation submitted: stop the run (recorded, then acked), then tell its thread."""
        ref = RunRef.load(view.get("private_metadata"))
        stopped = self.stopping.stop(ref.thread_id, body["user"]["id"], stop_reason(view["state"]["values"]))
        ack()
        self.ctx.acks.after_ack(lambda: self.stopping.announce(stopped))


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}
