"""An approval as the approval API shows it (docs/api.md): what `GET /v1/approvals/{id}` answers and what a
webhook delivers, built by one function so the two never differ."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from approvals.models import ApprovalRequest, Decision, DecisionType, Status

Outcome = Literal["approved", "edited", "rejected", "answered", "expired"]


class DecisionOut(BaseModel):
    """What to do with the call, once decided."""

    outcome: Outcome
    arguments: dict[str, Any] | None
    message: str | None
    decided_by: str | None
    # A delegate's decision: the approver they stood in for (away, with `decided_by` as their delegate).
    decided_for: str | None = None
    decided_at: datetime | None


class ApprovalOut(BaseModel):
    """An approval as the API shows it."""

    id: str
    agent: str
    tool: str
    status: Literal["pending", "approved", "edited", "rejected", "answered", "expired"]
    decision: DecisionOut | None


def _decision(approval: ApprovalRequest) -> DecisionOut | None:
    action = approval.action
    decision: Decision | None = action.decision
    if approval.is_pending or decision is None:
        return None
    outcome: Outcome
    arguments: dict[str, Any] | None = None
    if approval.status is Status.EXPIRED:
        outcome = "expired"
    elif decision.type is DecisionType.APPROVE:
        # Approved as re-proposed by an edit under another rule: it runs with the edited arguments.
        outcome = "edited" if action.proposed_args is not None else "approved"
        arguments = action.args_to_run
    elif decision.type is DecisionType.EDIT:
        outcome, arguments = "edited", decision.edited_args
    elif decision.type is DecisionType.RESPOND:
        outcome = "answered"
    else:
        outcome = "rejected"
    return DecisionOut(
        outcome=outcome,
        arguments=arguments,
        message=None if arguments is not None else decision.message,
        decided_by=decision.decided_by,
        decided_for=decision.for_user,
        decided_at=decision.decided_at,
    )


def approval_json(approval: ApprovalRequest) -> dict[str, Any]:
    """The approval as docs/api.md shows it: its status, and once decided, what to do."""
    decision = _decision(approval)
    out = ApprovalOut(
        id=approval.id,
        agent=approval.run.agent,
        tool=approval.action.tool,
        status=decision.outcome if decision is not None else "pending",
        decision=decision,
    )
    return out.model_dump(mode="json")
