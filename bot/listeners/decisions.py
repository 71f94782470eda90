"""Deciding: the Approve, Edit, Reject, Reply and Answer buttons and the forms they open.

A click that records a decision is acked only once the decision is committed (record, then ack);
a click that opens a form acks at once, and the form's submission records, then acks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from approvals.deciding import Recorded
from approvals.errors import ConfirmationNeeded, CountersignError
from approvals.models import ApprovalRequest, DecisionType, Level
from bot import metrics
from bot.answer_modal import answer_modal, submitted_answer
from bot.confirm_modal import CONFIRM_WORD, confirm_modal, confirmed
from bot.decisions import tell_reproposed
from bot.edit_modal import edit_modal, parse_edit_submission, rule_preview
from bot.explain import explain
from bot.ids import ActionId, BlockId, CallbackId
from bot.listening import Listeners, Listening
from bot.reject_modal import reject_modal, reject_reason

Decide = Callable[[], tuple[ApprovalRequest, Recorded]]


def register(app: App, ctx: Listening) -> None:
    """Add the decision buttons' and decision forms' listeners to `app`."""
    listeners = Decisions(ctx)
    for action_id in (ActionId.APPROVE, ActionId.APPROVE_ALL):
        app.action(action_id)(ctx.explained(listeners.on_approve))
    app.action(ActionId.ARG_VALUE)(ctx.explained(listeners.on_edit_values))
    app.action(ActionId.EDIT)(ctx.explained(listeners.on_edit))
    for action_id in (ActionId.REJECT, ActionId.RESPOND):
        app.action(action_id)(ctx.explained(listeners.on_reject_or_reply))
    app.action(ActionId.ANSWER)(ctx.explained(listeners.on_answer))
    app.view(CallbackId.EDIT_MODAL)(ctx.explained_form(listeners.on_edit_submitted))
    for callback_id in (CallbackId.REJECT_MODAL, CallbackId.RESPOND_MODAL):
        app.view(callback_id)(ctx.explained_form(listeners.on_reject_or_reply_submitted))
    app.view(CallbackId.ANSWER_MODAL)(ctx.explained_form(listeners.on_answer_submitted))
    app.view(CallbackId.CONFIRM_MODAL)(ctx.explained_form(listeners.on_confirm_submitted))


class Decisions(Listeners):
    """The listeners that decide, or open the form that will."""

    def on_approve(self, ack: Ack, body: dict[str, Any]) -> None:
        """Approve: recorded, then acked; a manual-level call first asks for CONFIRM."""
        ctx = self.ctx
        try:
            approval, recorded = ctx.decide(body, DecisionType.APPROVE)
        except ConfirmationNeeded as needed:
            # Extra friction: the approval counts once the approver typed CONFIRM.
            ack()
            ref, home = ctx.references.ref(body), ctx.references.on_home(body)
            ctx.open_view(body, confirm_modal(needed.approval, ref.action, from_home=home))
            return
        ack()  # only now: the decision is committed
        ctx.after_decision(body, recorded)
        ctx.still_waiting(body, approval, list(recorded.positions))

    def on_edit_values(self, ack: Ack, body: dict[str, Any]) -> None:
        """Enter in an Edit modal's field: say which rule the values typed so far fall under."""
        ctx = self.ctx
        ack()
        view = body["view"]
        ref = ctx.references.ref({"type": "view_submission", "view": view})
        approval = ctx.store.requests.get(ref.approval_id)
        position = ref.action or 0
        edited, errors = parse_edit_submission(approval, position, (view.get("state") or {}).get("values"))
        preview = rule_preview(approval.gate_of(position), None if errors else ctx.edited_gate(approval, position, edited))
        updated = edit_modal(approval, position, from_home=ref.home, preview=preview)
        ctx.client.views_update(view_id=view["id"], hash=view.get("hash"), view=ctx.signer.sign_view(updated))

    def on_edit(self, ack: Ack, body: dict[str, Any]) -> None:
        """Edit: open the Edit modal for the call."""
        ack()
        ref, approval, _ = self.ctx.load(body, DecisionType.EDIT)
        self.ctx.open_view(body, edit_modal(approval, ref.action or 0, from_home=self.ctx.references.on_home(body)))

    def on_reject_or_reply(self, ack: Ack, body: dict[str, Any]) -> None:
        """Reject or Reply: open the form that asks why, or for the reply."""
        ack()
        kind = DecisionType.RESPOND if body["actions"][0]["action_id"] == ActionId.RESPOND else DecisionType.REJECT
        ref, approval, _ = self.ctx.load(body, kind)
        self.ctx.open_view(body, reject_modal(approval, ref.action, kind, from_home=self.ctx.references.on_home(body)))

    def on_answer(self, ack: Ack, body: dict[str, Any]) -> None:
        """Answer (a question the agent asked): open the form for the answer."""
        ack()
        ref, approval, _ = self.ctx.load(body, DecisionType.RESPOND)
        self.ctx.open_view(body, answer_modal(approval, ref.action, from_home=self.ctx.references.on_home(body)))

    def submit(self, ack: Ack, body: dict[str, Any], decide: Decide, first_block: str) -> None:
        """Decide from a modal: inline error on the form if it is too late, else close it once committed."""
        ctx = self.ctx
        try:
            # Decide before closing the modal, so a lost race shows on the form, not silently.
            approval, recorded = decide()
        except CountersignError as error:
            metrics.refused(error)
            ack(response_action="errors", errors={first_block: explain(error)[:150]})
            return
        ack()
        ctx.after_decision(body, recorded)
        ctx.still_waiting(body, approval, list(recorded.positions))

    def on_edit_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The Edit modal submitted: approve with the edited arguments, or re-propose them under their new rule."""
        ctx = self.ctx
        values = view["state"]["values"]
        first = next(iter(values), BlockId.CONFIRM)
        try:
            ref, approval, _ = ctx.load(body, DecisionType.EDIT)
        except CountersignError as error:
            metrics.refused(error)
            ack(response_action="errors", errors={first: explain(error)[:150]})
            return
        position = ref.action or 0
        edited, errors = parse_edit_submission(approval, position, values)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        if self._repropose_if_moved(ack, body, approval, position, edited, first):
            return
        if approval.gate_of(position).level is Level.MANUAL and not confirmed(values):
            ack(response_action="errors", errors={BlockId.CONFIRM: f"Type {CONFIRM_WORD} to approve with these values."})
            return
        decide = functools.partial(ctx.decide, body, DecisionType.EDIT, edited_args=edited, confirmed=confirmed(values))
        self.submit(ack, body, decide, first)

    def _repropose_if_moved(
        self, ack: Ack, body: dict[str, Any], approval: ApprovalRequest, position: int, edited: dict[str, Any], first: str
    ) -> bool:
        """If the edited arguments fall under another rule than the call's, submit them as a new proposal and
        say True; else False, and the edit is decided here."""
        ctx = self.ctx
        # The edited call is judged again, as a new proposal: under another rule, the edit does not decide.
        gate = ctx.edited_gate(approval, position, edited)
        if gate.rule == approval.gate_of(position).rule:
            return False
        user = body["user"]["id"]
        reproposed: list[Recorded] = []

        def repropose() -> tuple[ApprovalRequest, Recorded]:
            ref, current = ctx.references.request(body)
            reproposed.append(ctx.deciding.repropose(current, user, position, edited, gate, rev=ref.rev))
            return current, reproposed[-1]

        self.submit(ack, body, repropose, first)
        if reproposed:
            permalink = ctx.places.permalinks([approval.id]).get(approval.id)
            tell_reproposed(ctx.client, approval, position, user, gate, permalink)
        return True

    def on_reject_or_reply_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The Reject or Reply form submitted: record the reason or reply."""
        kind = DecisionType.RESPOND if view["callback_id"] == CallbackId.RESPOND_MODAL else DecisionType.REJECT
        text = reject_reason(view["state"]["values"])
        if not text:
            missing = "Say why, so the agent can answer." if kind is DecisionType.REJECT else "Type your answer."
            ack(response_action="errors", errors={BlockId.REJECT_REASON: missing})
            return
        self.submit(ack, body, functools.partial(self.ctx.decide, body, kind, message=text), BlockId.REJECT_REASON)

    def on_answer_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The Answer form submitted: record the answer typed or chosen."""
        values = view["state"]["values"]
        first = next(iter(values), BlockId.ANSWER_TEXT)
        ref, approval = self.ctx.references.request(body)
        text = submitted_answer(approval.actions[ref.action or 0], values)
        if not text:
            ack(response_action="errors", errors={first: "Type your answer, or choose one."})
            return
        self.submit(ack, body, functools.partial(self.ctx.decide, body, DecisionType.RESPOND, message=text), first)

    def on_confirm_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The CONFIRM form submitted: approve, if the word was typed."""
        if not confirmed(view["state"]["values"]):
            ack(response_action="errors", errors={BlockId.CONFIRM: f"Type {CONFIRM_WORD} (in capitals) to approve."})
            return
        self.submit(ack, body, functools.partial(self.ctx.decide, body, DecisionType.APPROVE, confirmed=True), BlockId.CONFIRM)
