"""What the approval API reads and writes: request bodies (pydantic, checked strictly) and the approval as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from approvals.models import ApprovalRequest, Decision, DecisionType, Status

# A Slack user id: `requested_by` is shown as a mention, so nothing else may pass.
SLACK_USER = r"^[UW][A-Z0-9]{2,30}$"
# An agent or tool name as policies and admins' settings name them.
NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}$"


def _no_nul(text: str) -> str:
    # PostgreSQL's text columns take no NUL character: refused here rather than failing in the database.
    if "\x00" in text:
        raise ValueError("must not contain a NUL character")
    return text


Text = Annotated[str, AfterValidator(_no_nul)]


class Context(BaseModel):
    """What approvers are shown beside the call."""

    model_config = ConfigDict(extra="forbid")

    summary: Text | None = Field(None, max_length=3000)
    reasoning: Text | None = Field(None, max_length=10000)
    link: str | None = Field(None, max_length=2000, pattern=r"^https?://[^\s<>|]+$")


class Ask(BaseModel):
    """`POST /v1/approvals`: one tool call to decide."""

    model_config = ConfigDict(extra="forbid")

    agent: str = Field(pattern=NAME)
    tool: str = Field(pattern=NAME)
    arguments: dict[str, Any]
    context: Context = Field(default_factory=Context)
    requested_by: str | None = Field(None, pattern=SLACK_USER)
    arguments_schema: dict[str, Any] | None = None
    idempotency_key: Text | None = Field(None, min_length=1, max_length=200)


class Report(BaseModel):
    """`POST /v1/approvals/{id}/result`: what the caller did with the decision."""

    model_config = ConfigDict(extra="forbid")

    ok: bool
    output: Any = None
    error: Text | None = Field(None, max_length=10000)


Outcome = Literal["approved", "edited", "rejected", "answered", "expired"]


class DecisionOut(BaseModel):
    """What to do with the call, once decided."""

    outcome: Outcome
    arguments: dict[str, Any] | None
    message: str | None
    decided_by: str | None
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
