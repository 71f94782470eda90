"""Handing a request to someone else: "Ask someone else…" in a call's ⋯ menu opens a person picker
(`bot.handover_modal`); its submission records the hand-over through the core, then acks, then tells the
front-ends (the person is reached there) and redraws the request."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from approvals.errors import CountersignError, HandoverRefused
from bot import metrics
from bot.away_command import NotAPerson, check_person
from bot.explain import explain
from bot.handover_modal import chosen_person, handover_modal
from bot.ids import BlockId, CallbackId
from bot.listening import Listeners, Listening


def register(app: App, ctx: Listening) -> None:
    """Add the "Ask someone else…" form's listener to `app` (the menu option is served through `bot.listeners.more`)."""
    app.view(CallbackId.HANDOVER_MODAL)(ctx.explained_form(HandOver(ctx).on_submitted))


class HandOver(Listeners):
    """The menu option that opens the form, and the form's submission."""

    def on_chosen(self, ack: Ack, body: dict[str, Any]) -> None:
        """ "Ask someone else…" chosen: open the picker, if the chooser may hand the request on."""
        ctx = self.ctx
        ack()
        ref, approval = ctx.references.request(body)
        user = body["user"]["id"]
        ctx.deciding.check_may_hand_over(approval, user, admin=ctx.admin.is_admin(user))
        ctx.open_view(body, handover_modal(approval, ref.action, from_home=ctx.references.on_home(body)))

    def on_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The picker submitted: hand the request over (an inline error when it cannot be), then tell and redraw."""
        ctx = self.ctx
        user = body["user"]["id"]
        to = chosen_person(view["state"]["values"])
        if to is None:
            ack(response_action="errors", errors={BlockId.HANDOVER_PERSON: "Choose a person."})
            return
        try:
            _, approval = ctx.references.request(body)
            try:
                check_person(ctx.client, to)
            except NotAPerson as error:
                raise HandoverRefused(approval, "not_a_person", to) from error
            ctx.deciding.hand_to(approval, to, user, admin=ctx.admin.is_admin(user))
        except CountersignError as error:
            metrics.refused(error)
            ack(response_action="errors", errors={BlockId.HANDOVER_PERSON: explain(error)[:150]})
            return
        ack()  # only now: the hand-over is committed
        ctx.acks.after_ack(lambda: self.shown(body, approval.id, to, user))

    def shown(self, body: dict[str, Any], approval_id: str, to: str, by: str) -> None:
        """Once acked: the front-ends are told (the person is reached there) and the request redrawn."""
        self.ctx.deciding.announce_handover(approval_id, to, by)
        if self.ctx.references.on_home(body):
            self.ctx.publish_home(by)
