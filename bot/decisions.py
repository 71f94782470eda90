"""Turning a click or a submitted modal into a decision: record it (first wins), then queue the resume."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from approvals.approval_store import ApprovalStore
from approvals.errors import DecisionNotAllowed
from approvals.models import ApprovalRequest, Decision, DecisionType
from bot.outbound import SlackNotifier
from countersign.job_queue import JobQueue

log = logging.getLogger(__name__)


class Decider:
    """Records decisions and tells the worker and Slack about them."""

    def __init__(self, store: ApprovalStore, queue: JobQueue, client: WebClient, approvals_channel: str | None) -> None:
        self.store = store
        self.queue = queue
        self.notifier = SlackNotifier(client, store, approvals_channel)

    @staticmethod
    def check_allowed(approval: ApprovalRequest, decision: DecisionType, positions: list[int] | None = None) -> None:
        """Raise `DecisionNotAllowed` unless every targeted action accepts this kind of decision."""
        for position in positions if positions is not None else range(len(approval.actions)):
            action = approval.actions[position]
            if decision not in action.allowed_decisions:
                raise DecisionNotAllowed(f"`{action.tool}` does not allow {decision.value}.")
        if decision is DecisionType.EDIT and approval.gate.quorum > 1:
            raise DecisionNotAllowed(
                f"edits are off: rule {approval.gate.rule!r} needs {approval.gate.quorum} approvers to approve the same call."
            )

    def decide(self, approval: ApprovalRequest, decision: Decision, positions: list[int] | None = None) -> ApprovalRequest:
        """Commit the decision on the targeted actions (all undecided ones when None), or raise
        `AlreadyDecided`; once every action is decided, enqueue the resume."""
        self.check_allowed(approval, decision.type, positions)
        decided = self.store.decide(approval.id, decision, positions, quorum=approval.gate.quorum)
        if decided.completed:
            # Committed first, so a lost enqueue loses no decision (the worker's start-up sweep re-queues it).
            self.queue.enqueue_resume(approval.id)
        return decided.approval

    def announce(self, decided: ApprovalRequest) -> None:
        """Update the request's message: decided actions lose their buttons and say who decided what.

        The decision already stands, so a Slack failure here is logged rather than reported as
        "nothing changed".
        """
        try:
            self.notifier.update_request(decided)
        except SlackApiError:
            log.exception("approval %s was decided but its message could not be updated", decided.id)

    def approve(self, approval: ApprovalRequest, user_id: str, positions: list[int] | None = None) -> ApprovalRequest:
        """Approve the proposed calls as they are."""
        return self.decide(approval, Decision(type=DecisionType.APPROVE, decided_by=user_id), positions)

    def edit(self, approval: ApprovalRequest, user_id: str, position: int, edited_args: dict[str, Any]) -> ApprovalRequest:
        """Approve one call with the approver's arguments."""
        return self.decide(
            approval, Decision(type=DecisionType.EDIT, decided_by=user_id, edited_args=edited_args), [position]
        )

    def answer(
        self, approval: ApprovalRequest, user_id: str, positions: list[int] | None, kind: DecisionType, text: str
    ) -> ApprovalRequest:
        """Reject the calls with a reason, or reply in their place (`kind` REJECT or RESPOND); the agent reads `text`."""
        return self.decide(approval, Decision(type=kind, decided_by=user_id, message=text), positions)
