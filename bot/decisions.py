"""Turning a click or a submitted modal into a decision: record it (first wins), then hand the resume over.

The decision and the resume it owes commit in one transaction, before the click is acked; nothing
else comes before the ack. The enqueue after it is the fast path only: when the queue cannot be
reached (or the bot dies between the ack and the enqueue), the dispatcher beside the workers delivers
the decision as soon as it can, and a clicker whose enqueue failed is told exactly that.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from redis.exceptions import RedisError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from approvals.errors import DecisionNotAllowed
from approvals.job_queue import JobQueue
from approvals.models import POLICY_DECIDER, ApprovalRequest, Decision, DecisionType, Gate, Level
from approvals.store import Store
from bot import metrics
from bot.outbound import SlackNotifier
from bot.request_message import reproposed_pointer, reproposed_text

log = logging.getLogger(__name__)

QUEUE_DOWN_NOTE = (
    "Your decision is recorded. The job queue cannot be reached right now, so the agent will carry on "
    "as soon as it is back; there is nothing more to do."
)


class Recorded(NamedTuple):
    """A committed decision: on which request, and whether it completed the request (then it owes a resume)."""

    approval_id: str
    completed: bool


class Decider:
    """Records decisions and tells the worker and Slack about them."""

    def __init__(self, store: Store, queue: JobQueue, client: WebClient, approvals_channel: str | None) -> None:
        self.store = store
        self.queue = queue
        self.notifier = SlackNotifier(client, approvals_channel)

    @staticmethod
    def check_allowed(approval: ApprovalRequest, decision: DecisionType, positions: list[int] | None = None) -> None:
        """Raise `DecisionNotAllowed` unless every targeted action accepts this kind of decision."""
        for position in positions if positions is not None else range(len(approval.actions)):
            action = approval.actions[position]
            if decision not in action.allowed_decisions:
                raise DecisionNotAllowed(f"`{action.tool}` does not allow {decision.value}.")
            gate = approval.gate_of(position)
            if decision is DecisionType.EDIT and gate.quorum > 1:
                raise DecisionNotAllowed(
                    f"edits are off: rule {gate.rule!r} needs {gate.quorum} approvers to approve the same call."
                )

    def decide(self, approval: ApprovalRequest, decision: Decision, positions: list[int] | None = None) -> Recorded:
        """Commit the decision on the targeted actions (all undecided ones when None), or raise
        `AlreadyDecided`. Once acked, `hand_over` the resume it owes."""
        self.check_allowed(approval, decision.type, positions)
        targeted = positions if positions is not None else approval.undecided()
        quorums = {position: approval.gate_of(position).quorum for position in targeted}
        # Only if no call changed since the clicker was checked against the request as loaded.
        recorded = self.store.decisions.record_decision(
            approval.id, decision, positions, quorum=quorums, revision=approval.revision
        )
        metrics.decided(decision.type, vote_only=not recorded.positions)
        return Recorded(approval.id, recorded.completed)

    def hand_over(self, recorded: Recorded) -> bool | None:
        """Enqueue the resume a completed request owes: True when a worker has it, False when the queue could
        not be reached (the dispatcher delivers it later), None when the request owes none yet."""
        if not recorded.completed:
            return None
        try:
            self.queue.enqueue_resume(recorded.approval_id)
        except RedisError as error:
            log.warning(
                "approval %s: decision committed, queue unreachable (%s); the dispatcher will resume it",
                recorded.approval_id,
                error,
            )
            return False
        except Exception:  # after the ack the decision stands, and the dispatcher still delivers it
            log.exception("approval %s: decision committed, enqueue failed; the dispatcher will resume it", recorded.approval_id)
            return False
        return True

    def announce(self, approval_id: str) -> None:
        """Update the request's message: decided actions lose their buttons and say who decided what.

        The decision already stands, so a Slack failure here is logged rather than reported as
        "nothing changed" (the worker re-renders the message when it delivers the decision).
        """
        decided = self.store.requests.get(approval_id)
        try:
            self.notifier.update_request(decided, self.store.lists.decided_before(decided))
        except SlackApiError:
            log.exception("approval %s was decided but its message could not be updated", decided.id)

    def approve(self, approval: ApprovalRequest, user_id: str, positions: list[int] | None = None) -> Recorded:
        """Approve the proposed calls as they are."""
        return self.decide(approval, Decision(type=DecisionType.APPROVE, decided_by=user_id), positions)

    def edit(self, approval: ApprovalRequest, user_id: str, position: int, edited_args: dict[str, Any]) -> Recorded:
        """Approve one call with the approver's arguments."""
        return self.decide(approval, Decision(type=DecisionType.EDIT, decided_by=user_id, edited_args=edited_args), [position])

    def repropose(
        self, approval: ApprovalRequest, user_id: str, position: int, edited_args: dict[str, Any], gate: Gate
    ) -> Recorded:
        """An edit whose arguments fall under another rule (`gate`): the call waits for that rule's deciders with
        `user_id` as its proposer; a rule that is `auto` approves it at once."""
        self.store.requests.repropose(approval, position, edited_args, gate, user_id)
        if gate.level is not Level.AUTO:
            return Recorded(approval.id, False)
        recorded = self.store.decisions.record_decision(
            approval.id, Decision(type=DecisionType.APPROVE, decided_by=POLICY_DECIDER), [position]
        )
        return Recorded(approval.id, recorded.completed)

    def tell_reproposed(self, approval: ApprovalRequest, position: int, editor: str, gate: Gate) -> None:
        """Tell the editor where their re-proposed call went and, where its new rule names another channel than
        the request's, say in that channel that the call waits for its members there."""
        client = self.notifier.client
        if approval.channel is not None:
            try:
                client.chat_postEphemeral(channel=approval.channel, user=editor, text=reproposed_text(approval, position, gate))
            except SlackApiError:
                log.exception("could not tell %s where their edit went", editor)
        if gate.channel and gate.channel != approval.channel:
            try:
                client.chat_postMessage(
                    channel=gate.channel, text=reproposed_pointer(approval, position, editor, gate), unfurl_links=False
                )
            except SlackApiError:
                log.exception("could not point %s to approval %s", gate.channel, approval.id)

    def answer(
        self, approval: ApprovalRequest, user_id: str, positions: list[int] | None, kind: DecisionType, text: str
    ) -> Recorded:
        """Reject the calls with a reason, or reply in their place (`kind` REJECT or RESPOND); the agent reads `text`."""
        return self.decide(approval, Decision(type=kind, decided_by=user_id, message=text), positions)
