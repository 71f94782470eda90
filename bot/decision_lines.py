"""Who decided what: the lines a request's message, its replies and the ephemeral answers use to say how each
call was decided (or what still waits, and for whom)."""

from __future__ import annotations

from approvals.models import (
    DEADLINE_DECIDER,
    POLICY_DECIDER,
    REPEATED_IDS_DECIDER,
    ApprovalRequest,
    DecisionType,
    Gate,
    Level,
    ProposedAction,
    Status,
    rests_on,
)
from bot.formatting import approver, escape, mention, quote, slack_date

_QUOTE_CHARS = 1500


def standing_in(user_id: str, for_user: str | None) -> str:
    """Who decided, and whom they stood in for (a delegate's decision: "@D for @X")."""
    return f"{mention(user_id)} for {mention(for_user)}" if for_user else mention(user_id)


def voters(action: ProposedAction) -> list[str]:
    """Who approved a call toward its quorum so far, each as `standing_in` words them."""
    return [standing_in(user, action.votes_for.get(user)) for user in action.votes]


def decision_line(approval: ApprovalRequest) -> str:
    """Who decided what, and when, for each action (also used in ephemeral replies)."""
    if len(approval.actions) == 1:
        return action_decision_line(approval.action)
    return "\n".join(f"`{escape(a.tool)}`: {action_decision_line(a)}" for a in approval.actions)


def still_waiting_text(approval: ApprovalRequest, positions: list[int]) -> str:
    """What a clicker is told when their "all" left calls that other people's rules govern."""
    lines = []
    for position in positions:
        gate = approval.gate_of(position)
        who = ", ".join(approver(a) for a in gate.approvers) or "someone else"
        lines.append(f"• `{escape(approval.actions[position].tool)}`: {who} (rule _{escape(gate.rule)}_)")
    return "You decided the calls your role covers. Still waiting, under their own rules:\n" + "\n".join(lines)


def reproposed_text(approval: ApprovalRequest, position: int, gate: Gate) -> str:
    """What an editor is told when their edit fell under another rule than the call's, and so did not decide."""
    tool = escape(approval.actions[position].tool)
    rules = f"rule _{escape(gate.rule)}_ (not _{escape(approval.gate_of(position).rule)}_)"
    if gate.level is Level.AUTO:
        return f"Your edit of `{tool}` falls under {rules}, which approves it."
    who = ", ".join(approver(a) for a in gate.approvers) or "anyone here"
    not_you = "" if gate.allow_self_approval else ", not you"
    return f"Your edit of `{tool}` did not decide it: its arguments fall under {rules}, so it now waits for {who}{not_you}."


def reproposed_pointer(approval: ApprovalRequest, position: int, editor: str, gate: Gate, permalink: str | None) -> str:
    """What a re-proposed call's new rule's channel is told: it waits for a decision by its members there."""
    where = f"<{permalink}|the request>" if permalink else "the request (on the App Home tab)"
    tool = escape(approval.actions[position].tool)
    return f":arrow_right: `{tool}`, edited by {mention(editor)}, waits for a decision under rule _{escape(gate.rule)}_: {where}."


def action_decision_line(action: ProposedAction) -> str:
    """One sentence saying who decided an action, how, and when."""
    decision = action.decision
    if decision is None:
        return "Waiting for a decision."
    when = slack_date(decision.decided_at)
    who = standing_in(decision.decided_by, decision.for_user)
    ran = action.result is not None
    if decision.decided_by == DEADLINE_DECIDER:
        if decision.type is DecisionType.APPROVE:
            return f"{status_emoji(Status.APPROVED)} *Approved at its deadline* {when}: nobody objected in time."
        line = f"{status_emoji(Status.EXPIRED)} *Expired* {when}: nobody decided before the deadline."
        # Where the call could not take the rule's outcome, the deadline's own words say what it did instead.
        extra = (decision.message or "").removeprefix("The request expired: nobody decided before its deadline.").strip()
        return f"{line} {escape(extra)}" if extra else line
    if decision.decided_by == POLICY_DECIDER:
        return f"{status_emoji(Status.APPROVED)} *Approved by policy* {when}."
    if decision.decided_by == REPEATED_IDS_DECIDER:
        return f"{status_emoji(Status.REJECTED)} *Not run* {when}: another call has its id, so they cannot be told apart."
    if (earlier := rests_on(decision.decided_by)) is not None:
        return f"{status_emoji(Status.APPROVED)} *Went ahead* {when} on an earlier approval covering it (request `{earlier}`)."
    if decision.type is DecisionType.APPROVE:
        if len(action.votes) > 1:
            who = ", ".join(voters(action))
        return f"{status_emoji(Status.APPROVED)} *{'Acknowledged' if ran else 'Approved'}* by {who} {when}{_covers(action)}."
    if decision.type is DecisionType.EDIT:
        return f"{status_emoji(Status.EDITED)} *Approved with edits* by {who} {when}{_covers(action)}."
    reason = f"\n{quote(decision.message, _QUOTE_CHARS)}" if decision.message else ""
    if decision.type is DecisionType.RESPOND and action.allowed_decisions == [DecisionType.RESPOND]:
        # A question (nothing else could be decided): the answer is all there is.
        return f":speech_balloon: *Answered* by {who} {when}:{reason}"
    if decision.type is DecisionType.RESPOND:
        return f":speech_balloon: *Answered instead of running the tool* by {who} {when}:{reason}"
    if ran:
        return f":triangular_flag_on_post: *Flagged* by {who} {when}:{reason}"
    return f"{status_emoji(Status.REJECTED)} *Rejected* by {who} {when}:{reason}"


def _covers(action: ProposedAction) -> str:
    """What else an approval that remembers lets go ahead: the run's later calls of its tool under its rule."""
    if action.remembered is None:
        return ""
    if action.remembered.until is None:
        return f", for the rest of this run (its later `{escape(action.tool)}` calls under this rule go ahead on it)"
    until = slack_date(action.remembered.until)
    return f", and for this run's later `{escape(action.tool)}` calls under this rule until {until}"


def status_emoji(status: Status) -> str:
    return {
        Status.PENDING: ":hourglass_flowing_sand:",
        Status.APPROVED: ":white_check_mark:",
        Status.EDITED: ":pencil2:",
        Status.REJECTED: ":no_entry:",
        Status.DECIDED: ":ballot_box_with_check:",
        Status.EXPIRED: ":alarm_clock:",
    }[status]
