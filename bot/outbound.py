"""Messages to Slack: post a request, update it, post escalations and reminders, reply in its thread.

The notifier only talks to Slack and returns what it posted; the Slack front-end notes where
(`bot.slack_places`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from approvals.models import ApprovalRequest, Page, Run, format_duration
from bot.direct_messages import Reach
from bot.dm_messages import brief_message, with_reach
from bot.formatting import approver, escape, shorten, slack_date
from bot.permalinks import Permalinks
from bot.request_message import compact_request_message, request_message
from bot.slack_places import Posted
from bot.user_groups import UserGroupDirectory

log = logging.getLogger(__name__)

# The Slack message metadata event an ending is posted with: a later worker finds the post by it.
RUN_ENDED_EVENT = "countersign_run_ended"
# Messages asked for per page of `conversations.replies` (Slack's own limit is 1000; it suggests at most 200).
REPLIES_PAGE = 200
# How many pages of a channel a run without a thread looks back through for its ending, newest first.
ENDING_PAGES = 5


class SlackNotifier:
    """Posts and updates approval requests and run outcomes."""

    def __init__(self, client: WebClient, approvals_channel: str | None, user_groups: UserGroupDirectory | None = None) -> None:
        self.client = client
        self.approvals_channel = approvals_channel
        self.user_groups = user_groups or UserGroupDirectory(client)
        self.links = Permalinks(client)

    def channel_for(self, approval: ApprovalRequest, thread: Posted | None) -> str:
        """Where a new request goes: its rule's channel, else its run's thread, else the approvals channel."""
        run = approval.run
        channel = approval.gate.channel or (thread and thread.channel) or self.approvals_channel or run.reply_channel
        if channel is None:
            raise RuntimeError("APPROVALS_CHANNEL is not set, so there is nowhere to post the request")
        return channel

    def post_request(
        self, approval: ApprovalRequest, earlier: list[ApprovalRequest] | Page, thread: Posted | None, reach: Reach | None = None
    ) -> tuple[Posted, str | None]:
        """Post a new request: top level for a run's first, in the run's Slack `thread` after that, unless its
        rule names another channel (whose members may be the only ones who may decide it): then top level
        there, linked from the run's thread. Sent by DM (`reach`), it is a short line when everyone it names has
        it, else the whole request with a note of whom it was sent to and who could not be reached. Returns where
        it landed and its link."""
        channel = self.channel_for(approval, thread)
        elsewhere = thread is not None and channel != thread.channel
        reply = thread is not None and not elsewhere
        posted = self.post_message(
            approval, channel, thread.ts if reply and thread else None, self.channel_message(approval, earlier, reach)
        )
        link = self.permalink(posted, reply=reply)
        if elsewhere and thread is not None:
            self._link_from_thread(approval, posted, thread, link)
        self._point_other_rules_channels(approval, posted, link)
        return posted, link

    def post_message(self, approval: ApprovalRequest, channel: str, thread_ts: str | None, message: dict[str, Any]) -> Posted:
        """Post a request's message; one Slack refuses as too long (`msg_too_long`) is posted in its compact form."""
        try:
            response = self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, unfurl_links=False, **message)
        except SlackApiError as error:
            if error.response.get("error") != "msg_too_long":
                raise
            log.warning("Slack found request %s too long; posting its compact form", approval.id)
            compact = compact_request_message(approval)
            response = self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, unfurl_links=False, **compact)
        return Posted(response["channel"], response["ts"])

    def _point_other_rules_channels(self, approval: ApprovalRequest, posted: Posted, where: str | None) -> None:
        """Calls under several rules share one message: a call whose rule names another channel is announced
        there (its members decide it), linked to the request (`where`)."""
        others: dict[str, list[int]] = {}
        for position in range(len(approval.actions)):
            channel = approval.gate_of(position).channel
            if channel and channel != posted.channel:
                others.setdefault(channel, []).append(position)
        if not others:
            return
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

    def _link_from_thread(self, approval: ApprovalRequest, posted: Posted, thread: Posted, where: str | None) -> None:
        # The request stands where it was posted; a missing link is logged, not a reason to post it again.
        tools = ", ".join(f"`{escape(a.tool)}`" for a in approval.actions)
        text = f":arrow_right: {tools} waits for a decision in <#{posted.channel}>" + (
            f": <{where}|the request>" if where else "."
        )
        try:
            self.client.chat_postMessage(channel=thread.channel, thread_ts=thread.ts, text=text, unfurl_links=False)
        except SlackApiError:
            log.warning("could not link request %s from its run's thread", approval.id, exc_info=True)

    def permalink(self, posted: Posted, *, reply: bool) -> str | None:
        """The link to a posted message, `reply` in a thread or not (None when Slack will not say; lists then show
        it unlinked)."""
        return self.links.of(posted, reply=reply)

    @staticmethod
    def channel_message(approval: ApprovalRequest, earlier: list[ApprovalRequest] | Page, reach: Reach | None) -> dict[str, Any]:
        """A request's channel post: the whole request (noting its DMs, if any), or the short line of one sent by DM."""
        if reach is not None and reach.brief:
            return brief_message(approval, reach)
        return with_reach(request_message(approval, earlier), reach)

    def update_request(
        self,
        approval: ApprovalRequest,
        earlier: list[ApprovalRequest] | Page,
        shown: list[Posted],
        reach: tuple[Posted, Reach] | None = None,
    ) -> list[Posted]:
        """Re-render the messages that show a request (the first post, any escalations, its DMs) from its current
        state; the first post as it was posted (`reach`: a short line, or noting its DMs). Returns the messages
        someone deleted (`message_not_found`), for the caller to post again."""
        message = request_message(approval, earlier)
        failure: SlackApiError | None = None
        gone: list[Posted] = []
        for posted in shown:
            redrawn = self.channel_message(approval, earlier, reach[1]) if reach and posted == reach[0] else message
            try:
                self._update(approval, posted, redrawn)
            except SlackApiError as error:
                # One message Slack refuses (a DM with someone deactivated since) does not keep the others stale.
                log.warning("could not redraw request %s in %s: %s", approval.id, posted.channel, error.response.get("error"))
                if error.response.get("error") == "message_not_found":
                    gone.append(posted)
                else:
                    failure = failure or error
        if failure is not None:
            raise failure
        return gone

    def _update(self, approval: ApprovalRequest, posted: Posted, message: dict[str, Any]) -> None:
        try:
            self.client.chat_update(channel=posted.channel, ts=posted.ts, **message)
        except SlackApiError as error:
            if error.response.get("error") != "msg_too_long":
                raise
            self.client.chat_update(channel=posted.channel, ts=posted.ts, **compact_request_message(approval))

    def post_escalation(self, approval: ApprovalRequest, stage: int, earlier: list[ApprovalRequest] | Page) -> Posted:
        """Re-post an escalated request in its stage's channel and mention the stage's group in its thread."""
        escalation = next(e for e in approval.escalations if e.stage == stage)
        step = approval.gate.escalation[stage - 1]
        posted = self.post_message(approval, escalation.channel, None, request_message(approval, earlier))
        waited = format_duration(approval.gate.timeout_of(stage - 1))
        mention = step.mention
        if mention and mention.startswith("@"):
            # Slack only notifies a group mentioned by id; a handle it does not know stays as text.
            mention = self.user_groups.group_id(mention) or mention
        who = f"{approver(mention)}: " if mention else ""
        self.client.chat_postMessage(
            channel=escalation.channel,
            thread_ts=posted.ts,
            text=f"{who}nobody decided this within {waited}, so it is yours now.",
        )
        return posted

    def post_reminder(self, approval: ApprovalRequest, latest: Posted | None) -> bool:
        """Remind, in the thread of the request's `latest` message, that its deadline is coming; False when it has
        no message yet."""
        if latest is None or approval.deadline_at is None:
            return False
        who = ", ".join(approver(a) for a in approval.gate.approvers) or "Approvers"
        self.client.chat_postMessage(
            channel=latest.channel,
            thread_ts=latest.ts,
            text=f":alarm_clock: {who}: this request needs a decision by {slack_date(approval.deadline_at)}.",
        )
        return True

    def post_progress(self, thread: Posted, text: str, blocks: list[dict[str, Any]] | None = None) -> Posted:
        """Post a run's progress message in its thread."""
        response = self.client.chat_postMessage(
            channel=thread.channel, thread_ts=thread.ts, text=shorten(text, 3900), blocks=blocks, unfurl_links=False
        )
        return Posted(response["channel"], response["ts"])

    def update_progress(self, thread: Posted, ts: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """Replace a run's progress message with its latest text."""
        self.client.chat_update(channel=thread.channel, ts=ts, text=shorten(text, 3900), blocks=blocks)

    def post_outcome(self, run: Run, text: str, thread: Posted | None, metadata: dict[str, Any] | None = None) -> bool:
        """Reply in the run's Slack thread, or in the channel it was asked from; False with nowhere to post."""
        channel = (thread and thread.channel) or run.reply_channel or self.approvals_channel
        if channel is None:
            log.info("run %s has nowhere to post: %s", run.thread_id, text)
            return False
        thread_ts = thread.ts if thread else None
        self.client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=shorten(text, 3900), unfurl_links=False, metadata=metadata
        )
        return True

    def post_ending(self, run: Run, text: str, thread: Posted | None) -> bool:
        """Post how the run ended, as `post_outcome`, marked with metadata naming the run (`ending_posted` finds it)."""
        metadata = {"event_type": RUN_ENDED_EVENT, "event_payload": {"thread_id": run.thread_id}}
        return self.post_outcome(run, text, thread, metadata)

    def ending_posted(self, run: Run, thread: Posted | None) -> bool:
        """Whether the run's thread holds its ending (`post_ending`'s metadata); for a run without one (it ended before
        it asked anything), whether the channel its ending goes to does, among its messages since the run started
        (the newest ENDING_PAGES pages of them). What Slack will not let the app read (`missing_scope` on an install
        made before it asked for history) counts as not holding it, with a warning: posting an ending twice beats
        losing it."""
        channel = (thread and thread.channel) or run.reply_channel or self.approvals_channel
        if channel is None:
            return False
        try:
            # slack_sdk's response pages on by `response_metadata.next_cursor` as it is iterated.
            pages: Iterable[SlackResponse]
            if thread is not None:
                pages = self.client.conversations_replies(
                    channel=channel, ts=thread.ts, include_all_metadata=True, limit=REPLIES_PAGE
                )
            else:
                since = f"{run.created_at.timestamp():.6f}"
                history = self.client.conversations_history(
                    channel=channel, oldest=since, include_all_metadata=True, limit=REPLIES_PAGE
                )
                pages = itertools.islice(history, ENDING_PAGES)
            return any(_is_ending_of(run, message) for page in pages for message in page.get("messages") or [])
        except SlackApiError as error:
            log.warning(
                "could not read where run %s's ending goes to see if it was posted (%s); posting it",
                run.thread_id,
                error.response.get("error"),
            )
            return False


def _is_ending_of(run: Run, message: dict[str, Any]) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(metadata.get("event_type") == RUN_ENDED_EVENT and payload.get("thread_id") == run.thread_id)
