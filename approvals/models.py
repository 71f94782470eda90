"""The core's data: runs, approval requests, the actions they propose, and decisions."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    """Now, timezone-aware, so stored and compared times never mix naive and aware."""
    return datetime.now(UTC)


class DecisionType(StrEnum):
    """What a human may answer to a proposed call (LangChain's HITL decision types)."""

    APPROVE = "approve"
    EDIT = "edit"
    REJECT = "reject"
    RESPOND = "respond"


class Status(StrEnum):
    """Where an approval request stands."""

    PENDING = "pending"
    APPROVED = "approved"
    EDITED = "edited"
    REJECTED = "rejected"
    DECIDED = "decided"  # several actions, decided differently

    @classmethod
    def summarising(cls, decisions: list[DecisionType]) -> Status:
        """The status of a request whose actions were all decided this way."""
        kinds = set(decisions)
        if kinds <= {DecisionType.APPROVE}:
            return cls.APPROVED
        if kinds <= {DecisionType.APPROVE, DecisionType.EDIT}:
            return cls.EDITED
        if kinds <= {DecisionType.REJECT, DecisionType.RESPOND}:
            return cls.REJECTED
        return cls.DECIDED


class Level(StrEnum):
    """How much human attention a call needs (set by the policy rule that governs it)."""

    AUTO = "auto"  # no human
    SOFT = "soft"  # posted; proceeds at its deadline unless rejected
    HARD = "hard"  # waits for a decision
    MANUAL = "manual"  # extra friction: typed CONFIRM, optionally a quorum of approvers

    @property
    def strictness(self) -> int:
        """Order from least to most human attention."""
        return list(Level).index(self)


class Gate(BaseModel):
    """What the governing policy rule asks of one approval request: who decides, and how."""

    model_config = ConfigDict(frozen=True)

    rule: str = "default"
    level: Level = Level.HARD
    approvers: list[str] = Field(default_factory=list)
    allow_self_approval: bool = False
    quorum: int = 1
    channel: str | None = None


class RunStatus(StrEnum):
    """Where an agent run stands."""

    RUNNING = "running"
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"


class Run(BaseModel):
    """One agent run: a LangGraph thread, who asked for it and where its outcome goes."""

    model_config = ConfigDict(frozen=True)

    thread_id: str
    agent: str
    input_text: str
    requested_by: str | None = None
    reply_channel: str | None = None
    slack_channel: str | None = None
    slack_thread_ts: str | None = None
    status: RunStatus = RunStatus.RUNNING
    outcome: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Decision(BaseModel):
    """A human's (or the policy's) answer to one proposed action."""

    model_config = ConfigDict(frozen=True)

    type: DecisionType
    decided_by: str
    decided_at: datetime = Field(default_factory=utcnow)
    edited_args: dict[str, Any] | None = None
    message: str | None = None


class ProposedAction(BaseModel):
    """One tool call the agent wants to make, as shown to approvers, and its decision once made."""

    model_config = ConfigDict(frozen=True)

    tool: str
    args: dict[str, Any]
    description: str = ""
    allowed_decisions: list[DecisionType] = Field(
        default_factory=lambda: [DecisionType.APPROVE, DecisionType.EDIT, DecisionType.REJECT]
    )
    args_schema: dict[str, Any] | None = None
    decision: Decision | None = None
    # Who approved so far, when a quorum of approvers is needed.
    votes: list[str] = Field(default_factory=list)
    # For a review after the call ran (Countersign's `interrupt_after`): what the tool returned.
    result: str | None = None


class NewApprovalRequest(BaseModel):
    """What the worker knows when a run interrupts, before the request is stored."""

    thread_id: str
    interrupt_id: str
    kind: str
    actions: list[ProposedAction] = Field(min_length=1)
    agent_message: str = ""
    gate: Gate = Field(default_factory=Gate)


class ApprovalRequest(NewApprovalRequest):
    """A stored approval request, with its run's context and, once decided, the decision."""

    model_config = ConfigDict(frozen=True)

    id: str
    run: Run
    status: Status = Status.PENDING
    channel: str | None = None
    message_ts: str | None = None
    decided_at: datetime | None = None
    resumed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def action(self) -> ProposedAction:
        """The first proposed action (the only one, for most requests)."""
        return self.actions[0]

    @property
    def is_pending(self) -> bool:
        """True while some action still waits for a decision."""
        return self.status is Status.PENDING

    @property
    def decisions(self) -> list[Decision | None]:
        """Each action's decision, in the actions' order (None while undecided)."""
        return [action.decision for action in self.actions]

    def undecided(self) -> list[int]:
        """Positions of the actions still waiting for a decision."""
        return [position for position, action in enumerate(self.actions) if action.decision is None]


class AuditEvent(BaseModel):
    """One row of the audit log."""

    model_config = ConfigDict(frozen=True)

    id: int
    event: str
    approval_id: str | None
    actor: str | None
    detail: dict[str, Any]
    at: datetime
