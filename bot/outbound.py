"""Messages the worker sends to Slack: post a request, update it, reply in its thread with the outcome."""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from approvals.approval_store import ApprovalStore
from approvals.models import ApprovalRequest, Run, format_duration
from bot.formatting import approver, shorten, slack_date
from bot.request_message import request_message
from bot.user_groups import UserGroupDirectory

log = logging.getLogger(__name__)


class SlackNotifier:
    """Posts and updates approval requests and run outcomes, keeping the store's Slack references current."""

    def __init__(self, client: WebClient, store: ApprovalStore, approvals_channel: str | None) -> None:
        self.client = client
        self.store = store
        self.approvals_channel = approvals_channel
        self.user_groups = UserGroupDirectory(client)

    def post_request(self, approval: ApprovalRequest) -> ApprovalRequest:
        """Post a new request: top level for a run's first, in the run's Slack thread after that."""
        run = approval.run
        channel = run.slack_channel or approval.gate.channel or self.approvals_channel or run.reply_channel
        if channel is None:
            raise RuntimeError("APPROVALS_CHANNEL is not set, so there is nowhere to post the request")
        response = self.client.chat_postMessage(
            channel=channel, thread_ts=run.slack_thread_ts, unfurl_links=False, **self._render(approval)
        )
        channel, ts = response["channel"], response["ts"]
        self.store.set_run_thread(run.thread_id, channel, ts)
        self.store.set_message(approval.id, channel, ts)
        return self.store.get(approval.id)

    def update_request(self, approval: ApprovalRequest) -> None:
        """Re-render a request's messages (the first post and any escalations) from its current state."""
        message = self._render(approval)
        if approval.channel and approval.message_ts:
            self.client.chat_update(channel=approval.channel, ts=approval.message_ts, **message)
        for escalation in approval.escalations:
            if escalation.message_ts:
                self.client.chat_update(channel=escalation.channel, ts=escalation.message_ts, **message)

    def post_escalation(self, approval: ApprovalRequest) -> None:
        """Re-post an escalated request in its stage's channel, mentioning its group, and say so on the first post."""
        escalation = approval.escalations[-1]
        stage = approval.gate.escalation[escalation.stage - 1]
        response = self.client.chat_postMessage(channel=escalation.channel, unfurl_links=False, **self._render(approval))
        self.store.set_escalation_message(approval.id, escalation.stage, response["ts"])
        waited = format_duration(approval.gate.timeout_of(escalation.stage - 1))
        mention = stage.mention
        if mention and mention.startswith("@"):
            # Slack only notifies a group mentioned by id; a handle it does not know stays as text.
            mention = self.user_groups.group_id(mention) or mention
        who = f"{approver(mention)}: " if mention else ""
        self.client.chat_postMessage(
            channel=escalation.channel,
            thread_ts=response["ts"],
            text=f"{who}nobody decided this within {waited}, so it is yours now.",
        )
        self.update_request(self.store.get(approval.id))

    def post_reminder(self, approval: ApprovalRequest) -> None:
        """Remind, in the request's thread, that its deadline is coming."""
        where = approval.escalations[-1] if approval.escalations else None
        channel = where.channel if where else approval.channel
        ts = where.message_ts if where else approval.message_ts
        if channel and ts and approval.deadline_at:
            who = ", ".join(approver(a) for a in approval.gate.approvers) or "Approvers"
            self.client.chat_postMessage(
                channel=channel,
                thread_ts=ts,
                text=f":alarm_clock: {who}: this request needs a decision by {slack_date(approval.deadline_at)}.",
            )

    def _render(self, approval: ApprovalRequest) -> dict[str, object]:
        # A chain of gated steps shows, on each new request, the steps already decided.
        requests = self.store.requests_for_thread(approval.thread_id)
        earlier = [r for r in requests if r.created_at < approval.created_at and r.id != approval.id]
        return request_message(approval, earlier)

    def post_outcome(self, run: Run, text: str) -> None:
        """Reply in the run's Slack thread, or in the channel it was asked from when it has none."""
        channel = run.slack_channel or run.reply_channel or self.approvals_channel
        if channel is None:
            log.info("run %s finished with nowhere to post: %s", run.thread_id, text)
            return
        self.client.chat_postMessage(
            channel=channel, thread_ts=run.slack_thread_ts, text=shorten(text, 3900), unfurl_links=False
        )
