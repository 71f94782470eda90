"""Looking closer without deciding: the full arguments of a call, and the "all calls" modal and its pages."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.args_modal import args_modal
from bot.calls_modal import calls_modal
from bot.ids import ActionId
from bot.listening import Listeners, Listening


def register(app: App, ctx: Listening) -> None:
    """Add the listeners of the buttons that open or page the read-only modals to `app`."""
    listeners = Calls(ctx)
    app.action(ActionId.VIEW_ARGS)(ctx.explained(listeners.on_view_args))
    app.action(ActionId.VIEW_CALLS)(ctx.explained(listeners.on_view_calls))
    app.action(ActionId.CALLS_PAGE)(ctx.explained(listeners.on_calls_page))


class Calls(Listeners):
    """The listeners that show a request's calls; each acks at once."""

    def on_view_args(self, ack: Ack, body: dict[str, Any]) -> None:
        """Open the modal with a call's full arguments."""
        ack()
        _, approval = self.ctx.references.request(body)
        self.ctx.open_view(body, args_modal(approval))

    def on_view_calls(self, ack: Ack, body: dict[str, Any]) -> None:
        """Open the "all calls" modal at its first page."""
        ack()
        _, approval = self.ctx.references.request(body)
        self.ctx.open_view(body, calls_modal(approval, 0, from_home=self.ctx.references.on_home(body)))

    def on_calls_page(self, ack: Ack, body: dict[str, Any]) -> None:
        """Turn a page of the "all calls" modal."""
        ack()
        ref, _ = self.ctx.references.request(body)
        self.ctx.show_calls(body["view"]["id"], ref.approval_id, ref.page or 0, self.ctx.references.on_home(body))
