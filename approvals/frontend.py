"""What the core tells people, as events with structured data, and the interface a front-end implements to
show them.

A front-end (the Slack app in `bot/`, a test's list of events) owns all wording and where it showed each
event: the core hands it facts and asks whether they were shown. The core never formats text for people.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from approvals.models import ApprovalRequest, Ending, Page, Run

log = logging.getLogger(__name__)


class Event(BaseModel):
    """Something people are told about."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)


class RequestToDecide(Event):
    """A request that waits for people to decide it, with the run's earlier decided steps."""

    approval: ApprovalRequest
    earlier: Page


class RequestChanged(Event):
    """A request as it stands after a change (a decision, its deadline, its delivery): shown again."""

    approval: ApprovalRequest
    earlier: Page
    # Shown only where its decision is not shown yet: a decision is drawn once, by whichever comes first of the
    # front-end it was made in (after its ack) and the worker that delivered it (as its job ends: the net for a
    # front-end that died before drawing it). A pending state is always drawn.
    unless_shown: bool = False


class RequestEscalated(Event):
    """Nobody decided a request in time: it goes to the next stage of its rule's escalation chain."""

    approval: ApprovalRequest
    stage: int
    earlier: Page


class RequestHandedOver(Event):
    """Someone handed a request to another person, who may now decide it: that person is told."""

    approval: ApprovalRequest
    to: str
    by: str
    earlier: Page


class StandInNamed(Event):
    """Someone away named who stands in for them (`delegate`): a request that waits on them, which that person may now
    decide for them, is shown again so that it reaches that person where its rule reaches its deciders."""

    approval: ApprovalRequest
    away: str
    delegate: str
    earlier: Page


class DeadlineNear(Event):
    """A reminder that a pending request's deadline comes."""

    approval: ApprovalRequest


class Step(BaseModel):
    """One tool call of a run, and what it returned (None while it has not run)."""

    model_config = ConfigDict(frozen=True)

    tool: str
    args: str  # as JSON
    result: str | None = None
    failed: bool = False


class RunProgressed(Event):
    """What a run did so far: its tool calls since it was asked, the last few of `total`."""

    run: Run
    steps: list[Step]
    total: int


class RunEnded(Event):
    """A run ended; said after its outcome is stored, and again (`again`) until noted told."""

    run: Run
    ending: Ending
    # Said again because no attempt noted it told: one may have shown it first (a worker killed between the two),
    # so a front-end that can look shows it only where it is not shown yet.
    again: bool = False


class RunStopped(Event):
    """A person stopped a run that waited on people: what shows its progress shows that it goes no further. (A run
    stopped while a job of it runs is shown so by that job as it ends.)"""

    run: Run


# went_ahead_remembered: a call went ahead on an earlier approval that covers the rest of the run (`approval_id`).
NoticeKind = Literal["call_skipped", "delivery_uncertain", "went_ahead_remembered"]


class Notice(Event):
    """Something a run's followers must know though the run goes on."""

    run: Run
    kind: NoticeKind
    tool: str | None = None
    decided_by: str | None = None
    reason: str | None = None
    approval_id: str | None = None
    # went_ahead_remembered: until when that approval covers the run's calls (None: for the rest of the run).
    until: datetime | None = None


class FrontEndUnavailable(RuntimeError):
    """A front-end could not show an event (its service refused or could not be reached). `lasting`: trying again
    alone will not help until a person acts (invites the app to a channel, installs it again), so what is owed is
    tried again less often; `reason` names the refusal (Slack's error code, say)."""

    def __init__(self, message: str, *, lasting: bool = False, reason: str | None = None) -> None:
        super().__init__(message)
        self.lasting = lasting
        self.reason = reason


class FrontEnd(Protocol):
    """Shows the core's events to people."""

    def tell(self, event: Event) -> bool:
        """Show `event`; True when shown, False when it has nowhere to show it yet. Raises
        `FrontEndUnavailable` when its service failed."""
        ...


class FrontEnds:
    """Several front-ends told the same events, each on its own: one that fails does not silence the others."""

    def __init__(self, front_ends: Sequence[FrontEnd]) -> None:
        self.front_ends = list(front_ends)

    def tell(self, event: Event) -> bool:
        """Tell every front-end; True when any showed it. When one failed and none showed it, raises that failure
        (the caller tries again later); when another showed it, people have it, and the failure is logged (trying
        again would show it twice where it was shown)."""
        shown = False
        failure: FrontEndUnavailable | None = None
        for front_end in self.front_ends:
            try:
                shown = front_end.tell(event) or shown
            except FrontEndUnavailable as error:
                log.warning("a front-end could not show %s: %s", type(event).__name__, error)
                failure = failure or error
        if failure is not None and not shown:
            raise failure
        return shown
