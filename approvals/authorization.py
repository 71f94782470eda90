"""Who may decide the calls of an approval request: each call by the gate its own rule set."""

from __future__ import annotations

from collections.abc import Callable

from approvals.errors import NotAnApprover
from approvals.models import ApprovalRequest


def check_may_decide(
    approval: ApprovalRequest, user_id: str, group_members: set[str] | None = None, position: int | None = None
) -> None:
    """Raise `NotAnApprover` unless `user_id` may decide the call at `position` (by the request's gate when None).

    `group_members` holds the users of that gate's user groups, resolved by the caller (the core does not
    talk to Slack); without approvers, anyone who can see the request may decide. Whoever proposed the call
    as it stands (the run's requester, an editor who re-proposed it) may not, unless the rule allows it.
    """
    gate = approval.gate if position is None else approval.gate_of(position)
    proposers = {approval.run.requested_by} if position is None else approval.proposers_of(position)
    if user_id in proposers and not gate.allow_self_approval:
        raise NotAnApprover(approval, user_id, self_approval=True, position=position)
    if gate.approvers and user_id not in gate.approvers and user_id not in (group_members or set()):
        raise NotAnApprover(approval, user_id, self_approval=False, position=position)


def decidable(
    approval: ApprovalRequest, user_id: str, positions: list[int], members_of: Callable[[list[str]], set[str]]
) -> list[int]:
    """Of `positions`, the calls `user_id` may decide, each by its own rule (`members_of` resolves a gate's
    user groups); `NotAnApprover` for the first refused when there is none."""
    allowed: list[int] = []
    refused: NotAnApprover | None = None
    for position in positions:
        gate = approval.gate_of(position)
        try:
            check_may_decide(approval, user_id, members_of(gate.approvers) if gate.approvers else None, position)
        except NotAnApprover as error:
            refused = refused or error
            continue
        allowed.append(position)
    if not allowed and refused is not None:
        raise refused
    return allowed
