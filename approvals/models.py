"""The core's data: runs, approval requests, the actions they propose, and decisions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

# Deciders that are not people: a policy that lets a call through, a deadline, and Countersign refusing calls
# it cannot tell apart (several proposed under one tool-call id).
POLICY_DECIDER = "countersign:policy"
DEADLINE_DECIDER = "countersign:deadline"
REPEATED_IDS_DECIDER = "countersign:repeated-ids"
# A call that went ahead on an earlier approval covering its tool and rule for its run: this, then that approval's id.
REMEMBERED_DECIDER = "countersign:remembered:"
# The kind of a request asked over the approval API: no graph waits on it, its caller reads the decision.
API_KIND = "api"
# A tool call a worker's death cut off mid-way, put back to a person: Run it again (approve) or Don't (reject).
IN_DOUBT_KIND = "in_doubt"
# Its run's thread id begins so: no LangGraph graph is ever run on such a thread.
API_THREAD_PREFIX = "api-"


def remembered_decider(approval_id: str) -> str:
    """The `decided_by` of a call that went ahead on the remembered approval of request `approval_id`."""
    return REMEMBERED_DECIDER + approval_id


def rests_on(decided_by: str | None) -> str | None:
    """The request whose remembered approval a call went ahead on (None when a person or anything else decided it)."""
    if decided_by and decided_by.startswith(REMEMBERED_DECIDER):
        return decided_by.removeprefix(REMEMBERED_DECIDER)
    return None


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
    EXPIRED = "expired"  # nobody decided before the deadline; the calls were refused
    WITHDRAWN = "withdrawn"  # its run was stopped by a person before anyone decided; nothing of it runs

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


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: Any) -> Any:
    """`15m`, `4h`, `30s`, `2d` (or a number of seconds) as a timedelta."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration like 30s, 15m, 4h or 2d")
        return timedelta(**{_UNITS[match[2]]: int(match[1])})
    return value


def format_duration(value: timedelta) -> str:
    """A timedelta the way durations are written in settings: `90s`, `15m`, `4h`, `2d`."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# Read from `15m`-style text (or seconds), written back the same way in JSON (the store, the audit log).
Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, when_used="json")]
TimeoutAction = Literal["reject", "approve", "escalate"]
# How a rule's deciders are reached: its channel's post, a direct message to each, or both.
Notify = Literal["channel", "dm", "both"]
# How long an approval of a call lets later calls of the same tool, under the same rule, by the same run go ahead:
# not at all, for the rest of the run, or for a while.
Remember = Literal["off", "run"] | Duration
FinalTimeoutAction = Literal["reject", "approve"]


class EscalationStage(BaseModel):
    """One step of an escalation chain: where the request is re-posted, whom it mentions, how long it waits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    mention: str | None = None
    timeout: Duration


class Gate(BaseModel):
    """What the governing policy rule (and the admins' settings) ask of one approval request:
    who decides, how, and what happens at its deadline."""

    model_config = ConfigDict(frozen=True)

    rule: str = "default"
    level: Level = Level.HARD
    approvers: list[str] = Field(default_factory=list)
    allow_self_approval: bool = False
    quorum: int = 1
    channel: str | None = None
    timeout: Duration = timedelta(hours=24)
    on_timeout: TimeoutAction = "reject"
    escalation: list[EscalationStage] = Field(default_factory=list)
    final_on_timeout: FinalTimeoutAction = "reject"
    reminders: list[Duration] = Field(default_factory=list)
    notify: Notify = "channel"
    remember: Remember = "off"
    # Whether an approver may hand one request to someone else ("Ask someone else…"); admins always may.
    allow_handover: bool = False

    @property
    def demands(self) -> tuple[int, int, bool, bool, bool, bool]:
        """How much the gate asks of its deciders, to compare gates (the larger asks more)."""
        return (
            self.level.strictness,
            self.quorum,
            bool(self.approvers),
            not self.allow_self_approval,
            self.remember == "off",
            not self.allow_handover,
        )

    @property
    def remembers(self) -> bool:
        """Whether an approval under this gate may cover later calls: `remember` on, and neither `manual` nor a quorum
        (whose calls each need their own people, whatever admins set since)."""
        return self.remember != "off" and self.level not in (Level.MANUAL, Level.AUTO) and self.quorum == 1

    def action_at_deadline(self, stage: int) -> TimeoutAction:
        """What the deadline of `stage` (0: the first post, n: the n-th escalation) does."""
        if self.on_timeout == "escalate":
            return "escalate" if stage < len(self.escalation) else self.final_on_timeout
        return self.on_timeout

    def timeout_of(self, stage: int) -> timedelta:
        """How long `stage` waits for a decision."""
        return self.timeout if stage == 0 else self.escalation[stage - 1].timeout


class RunStatus(StrEnum):
    """Where an agent run stands."""

    QUEUED = "queued"  # stored, not started yet
    RUNNING = "running"  # a worker owes it progress (or is making it)
    WAITING = "waiting"  # paused at an approval request
    DONE = "done"
    FAILED = "failed"

    @property
    def is_owed_work(self) -> bool:
        """True while a worker still has to take the run further."""
        return self in (RunStatus.QUEUED, RunStatus.RUNNING)


# stopped: someone said no to a pause the agent cannot be told it at; halted: a person stopped the whole run.
EndingKind = Literal["answered", "failed", "gave_up", "stopped", "stopped_repeated_ids", "halted"]


class Ending(BaseModel):
    """How a run ended, with what a front-end needs to say so."""

    model_config = ConfigDict(frozen=True)

    kind: EndingKind
    answer: str | None = None  # answered: the agent's final words
    error: str | None = None  # failed: why it cannot run
    attempts: int | None = None  # gave_up
    ref: str | None = None  # gave_up: where the worker's log has the details
    decided_by: str | None = None  # stopped: who said no; halted: who stopped the run
    reason: str | None = None  # stopped, halted: what they said
    pause_kind: str | None = None  # stopped: the kind of pause the "no" could not be told to


class Run(BaseModel):
    """One agent run: a LangGraph thread, who asked for it and where its outcome goes."""

    model_config = ConfigDict(frozen=True)

    thread_id: str
    agent: str
    input_text: str
    requested_by: str | None = None
    reply_channel: str | None = None
    status: RunStatus = RunStatus.QUEUED
    outcome: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # Leases taken since the run last made progress (a crash-looping run fails for good past a limit).
    attempts: int = 0
    outcome_posted_at: datetime | None = None
    ending: Ending | None = None
    # A person stopped the run (its Stop button, `/countersign stop`): who, when and why; nothing of it runs after.
    stop_requested_by: str | None = None
    stop_requested_at: datetime | None = None
    stop_reason: str | None = None


class Decision(BaseModel):
    """A human's (or the policy's) answer to one proposed action."""

    model_config = ConfigDict(frozen=True)

    type: DecisionType
    decided_by: str
    decided_at: datetime = Field(default_factory=utcnow)
    edited_args: dict[str, Any] | None = None
    message: str | None = None
    # A delegate's decision: the approver they stood in for (away, with this person named as their delegate).
    for_user: str | None = None


class Remembered(BaseModel):
    """A call's approval that also lets later calls of its tool, under its rule, by its run go ahead: until when
    (None: for the rest of the run)."""

    model_config = ConfigDict(frozen=True)

    until: datetime | None = None


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
    # Of those, the delegates' votes: whom each stood in for.
    votes_for: dict[str, str] = Field(default_factory=dict)
    # For a review after the call ran (Countersign's `interrupt_after`): what the tool returned.
    result: str | None = None
    # The id of the tool call this action proposes, when the interrupt says which one.
    call_id: str | None = None
    # What the rule that governs this call asks (None on requests stored before calls had their own:
    # the request's gate then governs every call).
    gate: Gate | None = None
    # Arguments an approver's edit proposed under another rule than the call's own: the call now waits
    # for that rule's deciders, and runs with these if approved. `proposed_by` made that edit.
    proposed_args: dict[str, Any] | None = None
    proposed_by: str | None = None
    # Its approval covers later calls of its tool under its rule by its run ("Approve, and for the rest of this run").
    remembered: Remembered | None = None

    @property
    def args_to_run(self) -> dict[str, Any]:
        """The arguments the call runs with if approved as it stands."""
        return self.proposed_args if self.proposed_args is not None else self.args


class Escalation(BaseModel):
    """Where an escalated request was re-posted."""

    model_config = ConfigDict(frozen=True)

    stage: int
    channel: str
    at: datetime
    # When a front-end showed it; until then it is owed.
    shown_at: datetime | None = None


class NewApprovalRequest(BaseModel):
    """What the worker knows when a run interrupts, before the request is stored."""

    thread_id: str
    interrupt_id: str
    kind: str
    actions: list[ProposedAction] = Field(min_length=1)
    agent_message: str = ""
    # A link to the call's context, shown to approvers (the approval API's `context.link`).
    link: str | None = None
    gate: Gate = Field(default_factory=Gate)


class ApprovalRequest(NewApprovalRequest):
    """A stored approval request, with its run's context and, once decided, the decision."""

    model_config = ConfigDict(frozen=True)

    id: str
    run: Run
    status: Status = Status.PENDING
    # The channel whose members decide it when its rules name no approvers (where it is shown).
    channel: str | None = None
    # When a front-end first showed it to people.
    shown_at: datetime | None = None
    deadline_at: datetime | None = None
    stage: int = 0
    escalations: list[Escalation] = Field(default_factory=list)
    decided_at: datetime | None = None
    # When the decision reached the agent (its checkpoint moved past the interrupt).
    resumed_at: datetime | None = None
    # When a worker began handing the decision over; set and not resumed: an attempt may have died mid-way.
    delivery_started_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # How many times a call changed under the people deciding (an edit re-proposed under another rule).
    revision: int = 0
    # People it was handed to ("Ask someone else…"): each may decide its calls as a named approver would, those
    # whose rule is one it was handed over under (`handed_rules`).
    handed_to: list[str] = Field(default_factory=list)
    # Who handed it to each of them.
    handed_by: dict[str, str] = Field(default_factory=dict)
    # The rules of the calls it waited on when handed to each of them: a call re-proposed under another rule since
    # waits for that rule's own deciders.
    handed_rules: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def action(self) -> ProposedAction:
        """The first proposed action (the only one, for most requests)."""
        return self.actions[0]

    @property
    def is_pending(self) -> bool:
        """True while some action still waits for a decision."""
        return self.status is Status.PENDING

    def undecided(self) -> list[int]:
        """Positions of the actions still waiting for a decision."""
        return [position for position, action in enumerate(self.actions) if action.decision is None]

    def gate_of(self, position: int) -> Gate:
        """The gate that governs one call: its own rule's, or the request's on requests stored before that."""
        return self.actions[position].gate or self.gate

    def proposers_of(self, position: int) -> set[str]:
        """Who proposed the call as it stands: the run's requester, and the editor who re-proposed it."""
        action = self.actions[position]
        return {who for who in (self.run.requested_by, action.proposed_by) if who}


class Page(NamedTuple):
    """Some requests of a longer list (one page, the last few), and how many the whole list holds."""

    requests: list[ApprovalRequest]
    total: int
    # The total was counted only this far (a long list is not counted to its end): "at least `total`".
    capped: bool = False


class AuditEvent(BaseModel):
    """One row of the audit log."""

    model_config = ConfigDict(frozen=True)

    id: int
    event: str
    approval_id: str | None
    actor: str | None
    detail: dict[str, Any]
    at: datetime
