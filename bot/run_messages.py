"""The words a run's Slack thread is told: its progress (with its Stop button), its notices and how it ended."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from approvals.frontend import Notice, RunProgressed
from approvals.models import DEADLINE_DECIDER, POLICY_DECIDER, REPEATED_IDS_DECIDER, Ending, Run, RunStatus, rests_on
from bot.formatting import escape, quote, shorten, slack_date
from bot.ids import ActionId, BlockId

_ARGS_CHARS = 80
_RESULT_CHARS = 160

# What the thread is told, beyond who said no, when a "no" stopped a run of this kind of pause.
_WHY_STOPPED = {
    "interrupt:approve_or_stop": (
        " Its executors read a rejection in different ways (LangGraph's `tool_executor_with_edits` runs the call "
        'on `"reject"`), so it was not resumed. Declare `agent(graph, resume={"tool_approval_request": "action"})` '
        "in the agent registry to have it told, and rerouted, instead."
    ),
    "interrupt:text": " Nobody answered its question, and Countersign does not make up an answer.",
    "breakpoint_after": " What the reviewed step produced is kept; no step after it ran.",
}


def by(user: str | None) -> str:
    """Who decided, as the thread names them."""
    known = {POLICY_DECIDER: "the policy", DEADLINE_DECIDER: "the deadline", REPEATED_IDS_DECIDER: "Countersign"}
    if user is None:
        return "a human"
    if rests_on(user) is not None:
        return "an earlier approval"
    return known.get(user, f"<@{user}>")


def progress_text(event: RunProgressed) -> str:
    """The progress message: each tool call since the request, with its result."""
    lines = []
    for step in event.steps:
        if step.result is None:
            lines.append(f"`{escape(step.tool)}` `{escape(shorten(step.args, _ARGS_CHARS))}` … not run yet")
            continue
        mark = ":x:" if step.failed else ":white_check_mark:"
        result = escape(shorten(" ".join(step.result.split()), _RESULT_CHARS))
        args = f" `{escape(shorten(step.args, _ARGS_CHARS))}`" if step.args else ""
        lines.append(f"`{escape(step.tool)}`{args} {mark} {result}")
    hidden = event.total - len(lines)
    header = ":gear: *What the agent did so far*" + (f" (last {len(lines)} of {event.total} steps)" if hidden else "")
    return "\n".join([header, *(f"{n}. {line}" for n, line in enumerate(lines, start=hidden + 1))])


def stoppable(run: Run) -> bool:
    """Whether the run goes on, so that its progress message offers to stop it."""
    return run.stop_requested_at is None and run.status not in (RunStatus.DONE, RunStatus.FAILED)


def progress_blocks(run: Run, text: str) -> list[dict[str, Any]]:
    """The progress message: its text, the run's id (what `/countersign stop` takes) and, while the run goes on,
    its Stop button."""
    blocks: list[Any] = [SectionBlock(text=MarkdownTextObject(text=shorten(text, 3000)))]
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"run `{run.thread_id}` · `{escape(run.agent)}`")]))
    if stoppable(run):
        stop = ButtonElement(text="Stop run", action_id=ActionId.STOP_RUN, value=run.thread_id, style="danger")
        blocks.append(ActionsBlock(block_id=BlockId.RUN_BUTTONS, elements=[stop]))
    return [block.to_dict() for block in blocks]


def withdrawn_line(run: Run) -> str:
    """What a request withdrawn by its run's stop says instead of a decision."""
    when = f" {slack_date(run.stop_requested_at)}" if run.stop_requested_at else ""
    reason = f":\n{quote(run.stop_reason, 1000)}" if run.stop_reason else "."
    return f":octagonal_sign: *Withdrawn*: {by(run.stop_requested_by)} stopped the run{when}{reason}"


def ending_text(run: Run, ending: Ending) -> str:
    """How the run ended, as its thread is told."""
    agent = escape(run.agent)
    if ending.kind == "answered":
        # The agent's words, which cannot mention or link.
        return f":robot_face: *{agent}:* {escape(ending.answer or '')}"
    if ending.kind == "failed":
        return f":warning: The `{agent}` run failed: {escape(ending.error or '')}"
    if ending.kind == "gave_up":
        return (
            f":warning: The `{agent}` run failed after {ending.attempts} attempts (ref `{ending.ref}`); "
            "the worker's log has the details."
        )
    if ending.kind == "stopped_repeated_ids":
        return (
            f":no_entry: The `{agent}` run was stopped: told that several of its calls shared "
            "one id, its agent proposed calls sharing an id again, so Countersign cannot tell them apart. None of "
            "them ran, and the agent was not resumed."
        )
    reason = f": {escape(ending.reason)}" if ending.reason else ""
    if ending.kind == "halted":
        return (
            f":octagonal_sign: Stopped by {by(ending.decided_by)}{reason or '.'}\nThe `{agent}` run ended here: "
            "what it was waiting for was withdrawn, none of its tools runs again, and the agent is not resumed."
        )
    return (
        f":no_entry: The `{agent}` run was stopped: {by(ending.decided_by)} said no{reason}. The agent was not resumed, "
        f"so nothing after its pause ran.{_WHY_STOPPED.get(ending.pause_kind or '', '')}"
    )


def notice_text(notice: Notice, link: str | None = None) -> str:
    """A notice in the run's thread (`link`: to the request it names, if any)."""
    if notice.kind == "went_ahead_remembered":
        request = f"<{link}|approval>" if link else f"approval (request `{notice.approval_id}`)"
        cover = f"until {slack_date(notice.until)}" if notice.until else "for the rest of this run"
        return f":fast_forward: `{escape(notice.tool or '')}` went ahead on {by(notice.decided_by)}'s {request} {cover}."
    if notice.kind == "call_skipped":
        reason = f": {escape(notice.reason)}" if notice.reason else "."
        return f":no_entry: `{escape(notice.tool or '')}` did not run: {by(notice.decided_by)} rejected it{reason}"
    return f":warning: {notice.reason} (request `{notice.approval_id}`)"  # delivery_uncertain
