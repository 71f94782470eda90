"""What falls due with time: deadlines (reject, approve or escalate), escalation posts and reminders.

Deadlines are decided by the core (`Deciding.expire_due`: one transaction for all that are due, first
decision wins against clicks, each call's outcome from `approvals.decision_kinds`), then told to the
front-end item by item. One item it fails to show does not hold up the others; what was not shown
stays owed in SQL, and the next pass (the dispatcher runs one as soon as something is due) shows it; an
escalation the front-end could not post waits out a backoff first (`worker.backoff`), kept in SQL so that every
worker waits it out and the dispatcher counts it due only then: a channel the app is not in is not asked again
every pass.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from approvals.deciding import Deciding
from approvals.frontend import DeadlineNear, FrontEnd, FrontEndUnavailable, RequestChanged, RequestEscalated
from approvals.models import Status, utcnow
from approvals.store import Store
from worker import metrics
from worker.backoff import backoff

log = logging.getLogger(__name__)


@dataclass(eq=False)
class DeadlineService:
    """Applies what fell due; run by the `fire_due` job whenever the dispatcher finds something due."""

    deciding: Deciding
    front_end: FrontEnd
    clock: Callable[[], datetime] = utcnow

    @property
    def store(self) -> Store:
        """The store the core decides in."""
        return self.deciding.store

    def fire_due(self, now: datetime | None = None) -> list[str]:
        """Apply every deadline, escalation and reminder due by `now` (default: the clock); returns the
        ids of the requests it changed."""
        now = now or self.clock()
        expired = self.deciding.expire_due(now)
        escalated = self.store.due.escalate_due(now)
        self._count(expired, len(escalated))
        for approval_id in expired:
            self._isolated(f"update the message of expired approval {approval_id}", functools.partial(self._update, approval_id))
        for escalation in self.store.due.unshown_escalations(now):
            try:
                self._post_escalation(escalation.approval_id, escalation.stage)
            except (FrontEndUnavailable, OSError) as error:
                wait = backoff(escalation.attempts + 1, lasting=getattr(error, "lasting", False))
                self.store.due.escalation_not_shown(escalation, now + timedelta(seconds=wait))
                log.warning(
                    "could not post the escalation of approval %s (%s); tried again in %d s", escalation.approval_id, error, wait
                )
        for approval_id, stage, due_at in self.store.due.reminders_due(now):
            self._isolated(f"remind about approval {approval_id}", functools.partial(self._remind, approval_id, stage, due_at))
        return expired + [e.approval_id for e in escalated]

    def _count(self, expired: list[str], escalated: int) -> None:
        """Count the deadlines applied, by what they did (rejected, approved, escalated)."""
        for status in self.store.lists.statuses(expired).values():
            metrics.DEADLINES_FIRED.labels("approve" if status is Status.APPROVED else "reject").inc()
        if escalated:
            metrics.DEADLINES_FIRED.labels("escalate").inc(escalated)

    def _isolated(self, what: str, step: Callable[[], None]) -> None:
        try:
            step()
        except (FrontEndUnavailable, OSError):
            log.exception("could not %s; it stays owed and the next pass tries again", what)

    def _update(self, approval_id: str) -> None:
        approval = self.store.requests.get(approval_id)
        self.front_end.tell(RequestChanged(approval=approval, earlier=self.store.lists.decided_before(approval)))

    def _post_escalation(self, approval_id: str, stage: int) -> None:
        approval = self.store.requests.get(approval_id)
        # Told once it returns: a front-end with nowhere to show it would find nowhere next pass either.
        self.front_end.tell(RequestEscalated(approval=approval, stage=stage, earlier=self.store.lists.decided_before(approval)))
        self.store.due.escalation_shown(approval_id, stage)
        # The first message says where the request went (and any earlier escalation posts).
        self._update(approval_id)

    def _remind(self, approval_id: str, stage: int, due_at: datetime) -> None:
        approval = self.store.requests.get(approval_id)
        if approval.is_pending and approval.stage == stage:
            self.front_end.tell(DeadlineNear(approval=approval))
        self.store.due.reminder_sent(approval_id, stage, due_at)
