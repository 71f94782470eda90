"""The words a run's Slack thread is told: its progress, its notices and how it ended."""

from __future__ import annotations

from approvals.frontend import Notice, RunProgressed
from approvals.models import DEADLINE_DECIDER, POLICY_DECIDER, REPEATED_IDS_DECIDER, Ending, Run, rests_on
from bot.formatting import escape, shorten, slack_date

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
    if notice.kind == "delivery_uncertain":
        return f":warning: {notice.reason} (request `{notice.approval_id}`)"
    return (
        f":warning: The worker stopped while `{escape(notice.tool or '')}` was running; Countersign cannot tell whether "
        "it took effect, so it did not run it again and told the agent so."
    )
