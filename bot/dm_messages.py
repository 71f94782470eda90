"""The words of direct messages and of what the channel says about them: the short channel line of a request sent
by DM, the note on a channel post of whom it was sent to (and who could not be reached), a hand-over's lines, the
requester's news of decisions and of how their run ended, and reminders and escalations in a DM's thread."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from approvals.models import ApprovalRequest, Ending, Run, format_duration
from bot.decision_lines import action_decision_line
from bot.direct_messages import Reach
from bot.formatting import approver, escape, mention, shorten, slack_date
from bot.request_message import COMPACT_ROWS, MAX_MESSAGE_BLOCKS, call_row, request_message
from bot.run_messages import by

_ANSWER_CHARS = 300


def _people(entries: list[str]) -> str:
    return ", ".join(approver(entry) for entry in entries)


def reach_text(reach: Reach) -> str | None:
    """What a full channel post says of the request's DMs (None when it has none to speak of)."""
    parts = []
    if reach.asked:
        parts.append(f":envelope_with_arrow: Also sent by DM to {_people(reach.asked)}.")
    if reach.unreached:
        reasons = ", ".join(f"{approver(who)} (`{escape(why)}`)" for who, why in sorted(reach.unreached.items()))
        here = " They decide it here." if reach.notify == "dm" else ""
        parts.append(f":warning: Could not reach {reasons} by DM.{here}")
    return " ".join(parts) or None


def with_reach(message: dict[str, Any], reach: Reach | None) -> dict[str, Any]:
    """A request message with the note of its DMs at its end. A message already at Slack's limit of blocks goes
    without the note: it is the whole request with its buttons, so whoever was not reached can still decide it."""
    text = reach_text(reach) if reach else None
    if text is None or len(message["blocks"]) >= MAX_MESSAGE_BLOCKS:
        return message
    note = ContextBlock(elements=[MarkdownTextObject(text=shorten(text, 3000))]).to_dict()
    return {**message, "blocks": [*message["blocks"], note]}


def brief_message(approval: ApprovalRequest, reach: Reach) -> dict[str, Any]:
    """The channel's short line for a request everyone it names has by DM: what it is, where it stands, who was asked
    (no buttons: they decide in their DMs). Redrawn with the request, so followers see each decision."""
    full = request_message(approval)
    rows = [call_row(position, action) for position, action in enumerate(approval.actions[:COMPACT_ROWS])]
    if len(approval.actions) > COMPACT_ROWS:
        rows.append(f"…and {len(approval.actions) - COMPACT_ROWS} more.")
    asked_for = f"*{mention(approval.run.requested_by)} asked `{escape(approval.run.agent)}`:*\n"
    blocks: list[dict[str, Any]] = [
        full["blocks"][0],  # the header: what the agent wants, and where the request stands
        SectionBlock(text=MarkdownTextObject(text=shorten(asked_for + "\n".join(rows), 3000))).to_dict(),
    ]
    escalated = "".join(f" · :arrow_heading_up: escalated to <#{e.channel}> {slack_date(e.at)}" for e in approval.escalations)
    asked: list[Block] = [
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=shorten(
                        f":envelope_with_arrow: Sent by DM to {_people(reach.asked)}, who decide it there{escalated} · "
                        f"run `{approval.thread_id}` · request `{approval.id}`",
                        3000,
                    )
                )
            ]
        )
    ]
    return {"text": full["text"], "blocks": [*blocks, *(block.to_dict() for block in asked)]}


def handed_over_line(by_user: str) -> str:
    """The line a person's DM opens with when someone handed them a request."""
    return f":raising_hand: {mention(by_user)} asked you to decide this request:"


def handed_over_thread_line(by_user: str, to: str, unreached: str | None) -> str:
    """What the run's thread is told of a hand-over."""
    line = f":raising_hand: {mention(by_user)} handed this request to {mention(to)}"
    if unreached is not None:
        return f"{line}, who could not be reached by DM (`{escape(unreached)}`)."
    return f"{line}, who has it by DM."


def decisions_text(approval: ApprovalRequest, positions: list[int], link: str | None) -> str:
    """What the requester is told by DM of decisions on their run's request."""
    where = f" (<{link}|the request>)" if link else ""
    agent = escape(approval.run.agent)
    if len(positions) == 1:
        action = approval.actions[positions[0]]
        return f"Your `{agent}` run: `{escape(action.tool)}`: {action_decision_line(action)}{where}"
    lines = [f"• `{escape(approval.actions[p].tool)}`: {action_decision_line(approval.actions[p])}" for p in positions]
    return shorten(f"Your `{agent}` run{where}:\n" + "\n".join(lines), 3900)


def ending_dm_text(run: Run, ending: Ending, link: str | None) -> str:
    """What the requester is told by DM of how their run ended: one line, with a link to its thread."""
    agent = escape(run.agent)
    where = f" (<{link}|its thread>)" if link else ""
    if ending.kind == "answered":
        answer = escape(shorten(" ".join((ending.answer or "").split()), _ANSWER_CHARS))
        return f":robot_face: Your `{agent}` run finished{where}: {answer}"
    if ending.kind in ("failed", "gave_up"):
        return f":warning: Your `{agent}` run failed{where}."
    stopped = f" by {by(ending.decided_by)}" if ending.decided_by else ""
    return f":no_entry: Your `{agent}` run was stopped{stopped}{where}."


def dm_reminder_text(approval: ApprovalRequest) -> str:
    """A reminder in the thread of a DM'd request."""
    assert approval.deadline_at is not None
    return f":alarm_clock: This request needs a decision by {slack_date(approval.deadline_at)}."


def dm_escalated_text(approval: ApprovalRequest, stage: int) -> str:
    """What the people who have a request by DM are told when it is escalated."""
    escalation = next(e for e in approval.escalations if e.stage == stage)
    waited = format_duration(approval.gate.timeout_of(stage - 1))
    went = f"it went to <#{escalation.channel}>, and you may still decide it here"
    return f":arrow_heading_up: Nobody decided this within {waited}: {went}."
