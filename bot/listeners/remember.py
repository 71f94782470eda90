"""'Approve, and for the rest of this run' (or 'for 30m'), from the ⋯ menu beside a call's buttons: approved exactly as
Approve approves it (recorded, then acked), and remembered in the same transaction, so later calls of its tool under
its rule by its run go ahead on it (`approvals.remembering`)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack

from approvals.models import DecisionType
from bot.listening import Listener, Listeners, Listening


def listener(ctx: Listening) -> Listener:
    """The ⋯ menu's listener for `More.REMEMBER` (see `bot.listeners.more`)."""
    return Remember(ctx).on_remember


class Remember(Listeners):
    """Approves a call and remembers the approval for its run."""

    def on_remember(self, ack: Ack, body: dict[str, Any]) -> None:
        """Approve, and for the rest of the run: refused (nothing recorded) when the call's rule does not remember
        approvals now, or is manual or needs several approvers."""
        ctx = self.ctx
        approval, recorded = ctx.decide(body, DecisionType.APPROVE, remember=True)
        ack()  # only now: the decision and what it covers are committed
        ctx.after_decision(body, recorded)
        ctx.still_waiting(body, approval, list(recorded.positions))
