"""Domain errors in words for the person who clicked: the one place an error becomes a sentence."""

from __future__ import annotations

from approvals.errors import (
    AlreadyDecided,
    AlreadyVoted,
    ApprovalNotFound,
    ConfirmationNeeded,
    DeadlinePassed,
    HandoverRefused,
    NotAnApprover,
    RequestChanged,
)
from bot.confirm_modal import CONFIRM_WORD
from bot.decision_lines import decision_line
from bot.formatting import approver, escape, mention, slack_date
from bot.metadata import BadReference


def explain(error: Exception) -> str:
    """What to tell the user about a domain error."""
    if isinstance(error, AlreadyDecided):
        return f"Nothing changed: {decision_line(error.approval)}"
    if isinstance(error, ConfirmationNeeded):
        return f"Nothing changed: its rule is manual, so approving it takes typing {CONFIRM_WORD}."
    if isinstance(error, ApprovalNotFound):
        return "Nothing changed: this approval request no longer exists."
    if isinstance(error, DeadlinePassed):
        then = error.approval.gate.action_at_deadline(error.approval.stage)
        outcome = {"reject": "it is being rejected", "approve": "it goes ahead", "escalate": "it is being escalated"}[then]
        return f"Nothing changed: the deadline passed {slack_date(error.deadline)}; {outcome}."
    if isinstance(error, AlreadyVoted) and error.counted and error.by != error.user_id:
        quorum = error.approval.gate.quorum
        if error.by == error.counted:
            return (
                f"Nothing changed: {mention(error.counted)} already approved this, and a person counts once toward "
                f"its {quorum} approvals, so your approval for them would not count."
            )
        return (
            f"Nothing changed: {mention(error.by)} already approved this for {mention(error.counted)}, and a person "
            f"counts once toward its {quorum} approvals."
        )
    if isinstance(error, HandoverRefused):
        return handover_refused(error)
    if isinstance(error, AlreadyVoted):
        return (
            f"Nothing changed: you already approved this; it needs {error.approval.gate.quorum} different "
            "approvers, so someone else has to approve too."
        )
    if isinstance(error, NotAnApprover):
        gate = error.gate
        action = None if error.position is None else error.approval.actions[error.position]
        if error.self_approval and error.standing_in:
            return (
                f"Nothing changed: you stand in for {mention(error.standing_in)}, who asked for this run, so someone "
                f"else has to decide its calls (rule _{escape(gate.rule)}_ does not allow self-approval)."
            )
        if error.self_approval and (action is None or error.user_id != action.proposed_by):
            return (
                "Nothing changed: you asked for this run, so someone else has to decide its calls "
                f"(rule _{escape(gate.rule)}_ does not allow self-approval)."
            )
        if error.self_approval:
            return (
                "Nothing changed: you proposed these arguments, so someone else has to decide them "
                f"(rule _{escape(gate.rule)}_ does not allow self-approval)."
            )
        several = action is not None and len(error.approval.actions) > 1
        what = f"`{escape(action.tool)}`" if several and action is not None else "this request"
        if error.unreadable:
            where = ", ".join(f"<#{channel}>" for channel in error.unreadable)
            said = ", ".join(f"`{escape(why)}`" for why in dict.fromkeys(error.unreadable.values()))
            return (
                f"Nothing changed: only the members of {where} may decide this request (rule _{escape(gate.rule)}_), "
                f"and Countersign could not read who they are (Slack said {said}), so it lets nobody decide from "
                "there for now. Try again in a minute; if it persists, ask an admin to invite the app to that channel."
            )
        if not gate.approvers:
            where = ", ".join(f"<#{channel}>" for channel in error.channels) or "the channel it was posted in"
            return f"Nothing changed: only the members of {where} may decide {what} (rule _{escape(gate.rule)}_)."
        names = ", ".join(approver(entry) for entry in gate.approvers)
        return f"Nothing changed: only {names} may decide {what} (rule _{escape(gate.rule)}_)."
    if isinstance(error, RequestChanged):
        return (
            "Nothing changed: a call of this request was edited into another rule's since you looked, so it waits "
            "for that rule's deciders. Look at the request again."
        )
    if isinstance(error, BadReference):
        return f"Nothing changed: this request can't be handled here ({error})."
    return f"Nothing changed: {escape(str(error))}"


def handover_refused(error: HandoverRefused) -> str:
    """Why a request cannot be handed over (to the person chosen)."""
    rule = f"rule _{escape(error.approval.gate.rule)}_"
    who = mention(error.to)
    return {
        "not_allowed": f"Nothing changed: {rule} does not let its deciders hand a request on; only admins may.",
        "not_permitted": "Nothing changed: only someone who may decide this request (or an admin) can hand it on.",
        "yourself": "You can decide it yourself: choose someone else.",
        "requester": f"{who} proposed a call of this request, and {rule} does not allow self-approval: choose someone else.",
        "already_asked": f"{who} was already asked to decide this request.",
        "already_decides": f"{who} can already decide this request: choose someone else.",
        "not_a_person": f"{who} cannot decide requests (an app, or not an active member): choose a person.",
    }[error.reason]
