"""Messages to Slack: post a request, update it, post escalations and reminders, reply in its thread.

The notifier only talks to Slack and returns what it posted; whoever called it records that in
the store (so the worker's runtime, not this module, owns the writes).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from approvals.models import ApprovalRequest, Page, Run, format_duration
from bot.formatting import approver, escape, shorten, slack_date
from bot.request_message import request_message
from bot.user_groups import UserGroupDirectory

log = logging.getLogger(__name__)


class Posted(NamedTuple):
    """Where a message landed."""

    channel: str
    ts: str


class SlackNotifier:
    """Posts and updates approval requests and run outcomes."""

    def __init__(self, client: WebClient, approvals_channel: str | None, user_groups: UserGroupDirectory | None = None) -> None:
        self.client = client
        self.approvals_channel = approvals_channel
        self.user_groups = user_groups or UserGroupDirectory(client)

    def channel_for(self, approval: ApprovalRequest) -> str:
        """Where a new request goes: its rule's channel, else its run's thread, else the approvals channel."""
        run = approval.run
        channel = approval.gate.channel or run.slack_channel or self.approvals_channel or run.reply_channel
        if channel is None:
            raise RuntimeError("APPROVALS_CHANNEL is not set, so there is nowhere to post the request")
        return channel

    def post_request(self, approval: ApprovalRequest, earlier: list[ApprovalRequest] | Page) -> Posted:
        """Post a new request: top level for a run's first, in the run's Slack thread after that, unless its
        rule names another channel (whose members may be the only ones who may decide it): then top level
        there, linked from the run's thread."""
        run = approval.run
        channel = self.channel_for(approval)
        elsewhere = run.slack_channel is not None and channel != run.slack_channel
        response = self.client.chat_postMessage(
            channel=channel,
            thread_ts=None if elsewhere else run.slack_thread_ts,
            unfurl_links=False,
            **request_message(approval, earlier),
        )
        posted = Posted(response["channel"], response["ts"])
        if elsewhere:
            self._link_from_thread(approval, posted)
        self._point_other_rules_channels(approval, posted)
        return posted

    def _point_other_rules_channels(self, approval: ApprovalRequest, posted: Posted) -> None:
        """Calls under several rules share one message: a call whose rule names another channel is announced
        there (its members decide it), linked to the request."""
        others: dict[str, list[int]] = {}
        for position in range(len(approval.actions)):
            channel = approval.gate_of(position).channel
            if channel and channel != posted.channel:
                others.setdefault(channel, []).append(position)
        if not others:
            return
        where = self.permalink(posted)
        link = f": <{where}|the request>" if where else f" in <#{posted.channel}>."
        for channel, positions in others.items():
            calls = ", ".join(f"`{escape(approval.actions[p].tool)}`" for p in positions)
            rule = escape(approval.gate_of(positions[0]).rule)
            try:
                self.client.chat_postMessage(
                    channel=channel,
                    text=f":arrow_right: {calls} waits for a decision under rule _{rule}_{link}",
                    unfurl_links=False,
                )
            except SlackApiError:
                log.warning("could not point %s to request %s", channel, approval.id, exc_info=True)

    def _link_from_thread(self, approval: ApprovalRequest, posted: Posted) -> None:
        # The request stands where it was posted; a missing link is logged, not a reason to post it again.
        run = approval.run
        assert run.slack_channel is not None  # only a run with a thread has a request posted elsewhere
        where = self.permalink(posted)
        tools = ", ".join(f"`{escape(a.tool)}`" for a in approval.actions)
        text = f":arrow_right: {tools} waits for a decision in <#{posted.channel}>" + (
            f": <{where}|the request>" if where else "."
        )
        try:
            self.client.chat_postMessage(channel=run.slack_channel, thread_ts=run.slack_thread_ts, text=text, unfurl_links=False)
        except SlackApiError:
            log.warning("could not link request %s from its run's thread", approval.id, exc_info=True)

    def permalink(self, posted: Posted) -> str | None:
        """The link to a posted message (None when Slack will not say; lists then show it unlinked)."""
        try:
            return str(self.client.chat_getPermalink(channel=posted.channel, message_ts=posted.ts)["permalink"])
        except SlackApiError:
            log.warning("no permalink for message %s in %s", posted.ts, posted.channel)
            return None

    def update_request(self, approval: ApprovalRequest, earlier: list[ApprovalRequest] | Page) -> None:
        """Re-render a request's messages (the first post and any escalations) from its current state."""
        message = request_message(approval, earlier)
        if approval.channel and approval.message_ts:
            self.client.chat_update(channel=approval.channel, ts=approval.message_ts, **message)
        for escalation in approval.escalations:
            if escalation.message_ts:
                self.client.chat_update(channel=escalation.channel, ts=escalation.message_ts, **message)

    def post_escalation(self, approval: ApprovalRequest, stage: int, earlier: list[ApprovalRequest] | Page) -> Posted:
        """Re-post an escalated request in its stage's channel and mention the stage's group in its thread."""
        escalation = next(e for e in approval.escalations if e.stage == stage)
        step = approval.gate.escalation[stage - 1]
        response = self.client.chat_postMessage(
            channel=escalation.channel, unfurl_links=False, **request_message(approval, earlier)
        )
        waited = format_duration(approval.gate.timeout_of(stage - 1))
        mention = step.mention
        if mention and mention.startswith("@"):
            # Slack only notifies a group mentioned by id; a handle it does not know stays as text.
            mention = self.user_groups.group_id(mention) or mention
        who = f"{approver(mention)}: " if mention else ""
        self.client.chat_postMessage(
            channel=escalation.channel,
            thread_ts=response["ts"],
            text=f"{who}nobody decided this within {waited}, so it is yours now.",
        )
        return Posted(response["channel"], response["ts"])

    def post_reminder(self, approval: ApprovalRequest) -> bool:
        """Remind, in the request's thread, that its deadline is coming; False when it has no message yet."""
        where = approval.escalations[-1] if approval.escalations else None
        channel = where.channel if where else approval.channel
        ts = where.message_ts if where else approval.message_ts
        if not (channel and ts and approval.deadline_at):
            return False
        who = ", ".join(approver(a) for a in approval.gate.approvers) or "Approvers"
        self.client.chat_postMessage(
            channel=channel,
            thread_ts=ts,
            text=f":alarm_clock: {who}: this request needs a decision by {slack_date(approval.deadline_at)}.",
        )
        return True

    def post_progress(self, run: Run, text: str) -> Posted:
        """Post a run's progress message in its thread."""
        assert run.slack_channel and run.slack_thread_ts
        response = self.client.chat_postMessage(
            channel=run.slack_channel, thread_ts=run.slack_thread_ts, text=shorten(text, 3900), unfurl_links=False
        )
        return Posted(response["channel"], response["ts"])

    def update_progress(self, run: Run, ts: str, text: str) -> None:
        """Replace a run's progress message with its latest text."""
        assert run.slack_channel
        self.client.chat_update(channel=run.slack_channel, ts=ts, text=shorten(text, 3900))

    def post_outcome(self, run: Run, text: str) -> bool:
        """Reply in the run's Slack thread, or in the channel it was asked from; False with nowhere to post."""
        channel = run.slack_channel or run.reply_channel or self.approvals_channel
        if channel is None:
            log.info("run %s has nowhere to post: %s", run.thread_id, text)
            return False
        self.client.chat_postMessage(channel=channel, thread_ts=run.slack_thread_ts, text=shorten(text, 3900), unfurl_links=False)
        return True
