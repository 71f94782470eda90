"""Domain exceptions, raised by the core and translated once into words for the user by the bot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from datetime import datetime

    from approvals.models import ApprovalRequest, Gate


class ConfigurationError(Exception):
    """A setting that stops a process from starting: `variable` names it, `message` says what is wrong.
    The command line prints it as one line, `countersign: VARIABLE: message` (a message that begins with
    the variable's name, as `COUNTERSIGN_AGENTS='x' cannot be loaded`, names it itself)."""

    def __init__(self, variable: str, message: str) -> None:
        self.variable = variable
        self.message = message
        super().__init__(message if message.startswith(variable) else f"{variable}: {message}")


class CountersignError(Exception):
    """Base of every error Countersign explains to a user."""


class ApprovalNotFound(CountersignError):
    """The clicked request is not in the store (deleted, or another deployment's)."""

    def __init__(self, approval_id: str) -> None:
        super().__init__(f"No approval request {approval_id!r}.")
        self.approval_id = approval_id


class AlreadyDecided(CountersignError):
    """Somebody decided these actions (or the whole request) first; the loser's click changes nothing."""

    def __init__(self, approval: ApprovalRequest, positions: list[int] | None = None) -> None:
        super().__init__(f"Approval {approval.id} was already decided ({approval.status.value}).")
        self.approval = approval
        self.positions = positions


class DeadlinePassed(CountersignError):
    """The request's deadline passed; its outcome is being applied, so a click changes nothing."""

    def __init__(self, approval: ApprovalRequest, deadline: datetime) -> None:
        super().__init__(f"Approval {approval.id} passed its deadline at {deadline}.")
        self.approval = approval
        self.deadline = deadline


class AlreadyVoted(CountersignError):
    """This approver already approved; the request waits for other approvers to reach its quorum. A person counts
    once, for themselves or through their delegate: `counted` is the person already counted by `by`'s vote
    (None: `user_id`'s own earlier vote)."""

    def __init__(self, approval: ApprovalRequest, user_id: str, *, counted: str | None = None, by: str | None = None) -> None:
        super().__init__(f"{user_id} already approved approval {approval.id}; it needs {approval.gate.quorum} approvers.")
        self.approval = approval
        self.user_id = user_id
        self.counted = counted
        self.by = by


class NotAnApprover(CountersignError):
    """The clicker may not decide this request: not among its approvers, not in the channels whose members
    decide it (`channels`, when its rule names no approvers), or asked for the run. `unreadable` holds the
    channels whose members could not be read, with Slack's reason: their members are refused too."""

    def __init__(
        self,
        approval: ApprovalRequest,
        user_id: str,
        *,
        self_approval: bool,
        gate: Gate | None = None,
        channels: tuple[str, ...] = (),
        unreadable: dict[str, str] | None = None,
        position: int | None = None,
        standing_in: str | None = None,
    ) -> None:
        if self_approval:
            why = "proposed the call and the rule forbids self-approval"
        elif unreadable:
            why = f"the members of {', '.join(unreadable)} could not be read ({', '.join(unreadable.values())})"
        elif channels:
            why = f"is not a member of {', '.join(channels) or 'its channel'}"
        else:
            why = "is not an approver"
        # The gate that refused: the request's, or one call's own (`position`).
        self.gate = gate or (approval.gate if position is None else approval.gate_of(position))
        self.position = position
        super().__init__(f"{user_id} may not decide approval {approval.id}: {why} (rule {self.gate.rule!r}).")
        self.approval = approval
        self.user_id = user_id
        self.self_approval = self_approval
        self.channels = channels
        self.unreadable = unreadable or {}
        # Refused as the delegate of this person (who asked for the run, when `self_approval`).
        self.standing_in = standing_in


HandoverReason = Literal[
    "not_allowed", "not_permitted", "yourself", "requester", "already_asked", "already_decides", "not_a_person"
]


class HandoverRefused(CountersignError):
    """A request cannot be handed to `to` (None: before anyone was chosen): `reason` says why (the rule does not
    allow hand-over, the asker may not decide it, the chosen person is the asker, the requester, already asked,
    already among its deciders, or not a person who can decide)."""

    def __init__(self, approval: ApprovalRequest, reason: HandoverReason, to: str | None = None) -> None:
        super().__init__(f"approval {approval.id} cannot be handed to {to}: {reason}.")
        self.approval = approval
        self.reason = reason
        self.to = to


class RequestChanged(CountersignError):
    """A call of the request changed (an edit re-proposed it under another rule) since the clicker saw it."""

    def __init__(self, approval: ApprovalRequest) -> None:
        super().__init__(f"approval {approval.id} changed (revision {approval.revision}) since it was shown.")
        self.approval = approval


class DecisionNotAllowed(CountersignError):
    """The interrupt does not allow this kind of decision (e.g. edit on an approve/reject-only call)."""


class UnknownAgent(CountersignError):
    """A run named an agent the registry does not hold."""


class ConfirmationNeeded(CountersignError):
    """A call under a `manual` rule goes ahead only when the person confirmed it (typed CONFIRM in Slack)."""

    def __init__(self, approval: ApprovalRequest) -> None:
        super().__init__(f"approval {approval.id}: a manual call needs a confirmed decision.")
        self.approval = approval
