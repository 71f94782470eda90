"""What each kind of decision means to the call it answers, in one table, and the one rule for a "no" a call
cannot take."""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from approvals.models import ApprovalRequest, Decision, DecisionType


class Meaning(NamedTuple):
    """What a decision of one kind does to its call."""

    goes_ahead: bool  # the call runs
    carries_message: bool  # the agent reads a person's words
    carries_arguments: bool  # the call runs with other arguments than proposed


MEANINGS: dict[DecisionType, Meaning] = {
    DecisionType.APPROVE: Meaning(goes_ahead=True, carries_message=False, carries_arguments=False),
    DecisionType.EDIT: Meaning(goes_ahead=True, carries_message=False, carries_arguments=True),
    DecisionType.REJECT: Meaning(goes_ahead=False, carries_message=True, carries_arguments=False),
    DecisionType.RESPOND: Meaning(goes_ahead=False, carries_message=True, carries_arguments=False),
}

# How a call is told no, in order of preference: a rejection it reads, else a reply in the tool's place.
SAYING_NO: tuple[DecisionType, ...] = (DecisionType.REJECT, DecisionType.RESPOND)


def goes_ahead(kind: DecisionType) -> bool:
    """True when a decision of this kind lets its call run."""
    return MEANINGS[kind].goes_ahead


def saying_no(allowed: Collection[DecisionType]) -> DecisionType | None:
    """How a call that allows `allowed` is told no: Reject, else Respond; None when it cannot be told at all
    (the run must then stop where it is, never resumed)."""
    return next((kind for kind in SAYING_NO if kind in allowed), None)


def as_no(decision: Decision, allowed: Collection[DecisionType], message: str) -> Decision | None:
    """`decision` turned into the "no" its call can take, telling the agent `message`; None when it can take none."""
    kind = saying_no(allowed)
    if kind is None:
        return None
    return decision.model_copy(update={"type": kind, "message": message, "edited_args": None})


def as_allowed(decision: Decision, allowed: Collection[DecisionType]) -> Decision | None:
    """The decision as its call allows it: unchanged when allowed; otherwise a "no" (a "yes" the call does not
    allow is a "no" too) carrying the person's words or saying why. None when the call can be told no no way."""
    if decision.type in allowed:
        return decision
    message = decision.message or f"{decision.type.value} is not allowed for this call, so it does not run."
    return as_no(decision, allowed, message)


def deliverable(approval: ApprovalRequest) -> ApprovalRequest | None:
    """The request with each decision as its call allows it (`as_allowed`). None when some "no" can be
    said no way the agent reads: then the run must stop."""
    actions = []
    for action in approval.actions:
        decision = action.decision
        if decision is not None:
            decision = as_allowed(decision, action.allowed_decisions)
            if decision is None:
                return None
        actions.append(action.model_copy(update={"decision": decision}))
    return approval.model_copy(update={"actions": actions})


EXPIRED_MESSAGE = "The request expired: nobody decided before its deadline."


def deadline_decision(outcome: str, allowed: Collection[DecisionType]) -> tuple[DecisionType, str | None]:
    """What a deadline decides for one call, given what the call allows: going ahead only where Approve is
    allowed, else the "no" the call can take (`saying_no`), telling the agent so."""
    if outcome == "approve" and DecisionType.APPROVE in allowed:
        return DecisionType.APPROVE, None
    note = (
        "" if outcome != "approve" else " This call cannot go ahead at a deadline (Approve is not allowed), so it does not run."
    )
    kind = saying_no(allowed)
    if kind is DecisionType.REJECT:
        return kind, EXPIRED_MESSAGE + note
    if kind is DecisionType.RESPOND:
        return kind, EXPIRED_MESSAGE + note + " (This call cannot be rejected, so the agent is told instead.)"
    # Nothing the agent reads can say no: delivering this stops the run without resuming it.
    return DecisionType.REJECT, EXPIRED_MESSAGE + " This call can be neither rejected nor answered, so the run is stopped."
