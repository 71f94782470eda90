"""What a decider is told in Slack beyond the request message: that the queue was down, or where a
re-proposed call went. The decision itself is the core's (`approvals.deciding`)."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from approvals.models import ApprovalRequest, Gate
from bot.decision_lines import reproposed_pointer, reproposed_text

log = logging.getLogger(__name__)

QUEUE_DOWN_NOTE = (
    "Your decision is recorded. The job queue cannot be reached right now, so the agent will carry on "
    "as soon as it is back; there is nothing more to do."
)


def tell_reproposed(
    client: WebClient, approval: ApprovalRequest, position: int, editor: str, gate: Gate, permalink: str | None
) -> None:
    """Tell the editor where their re-proposed call went and, where its new rule names another channel than
    the request's, say in that channel that the call waits for its members there."""
    if approval.channel is not None:
        try:
            client.chat_postEphemeral(channel=approval.channel, user=editor, text=reproposed_text(approval, position, gate))
        except SlackApiError:
            log.exception("could not tell %s where their edit went", editor)
    if gate.channel and gate.channel != approval.channel:
        try:
            client.chat_postMessage(
                channel=gate.channel, text=reproposed_pointer(approval, position, editor, gate, permalink), unfurl_links=False
            )
        except SlackApiError:
            log.exception("could not point %s to approval %s", gate.channel, approval.id)
