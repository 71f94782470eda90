"""Who may decide an approval request, by the gate its policy rule set."""

from __future__ import annotations

from approvals.errors import NotAnApprover
from approvals.models import ApprovalRequest


def check_may_decide(approval: ApprovalRequest, user_id: str, group_members: set[str] | None = None) -> None:
    """Raise `NotAnApprover` unless `user_id` may decide `approval`.

    `group_members` holds the users of the gate's user groups, resolved by the caller (the core
    does not talk to Slack); without approvers, anyone who can see the request may decide.
    """
    gate = approval.gate
    if user_id == approval.run.requested_by and not gate.allow_self_approval:
        raise NotAnApprover(approval, user_id, self_approval=True)
    if gate.approvers and user_id not in gate.approvers and user_id not in (group_members or set()):
        raise NotAnApprover(approval, user_id, self_approval=False)
