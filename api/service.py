"""Asking, reading and reporting approvals: what the API's routes do, on the core's store and front-end."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from api.bodies import Ask, Report
from approvals.admin_settings import AdminSettings
from approvals.errors import AlreadyDecided, ApprovalNotFound
from approvals.frontend import FrontEnd, FrontEndUnavailable, RequestToDecide
from approvals.gates import call_gate, request_gate
from approvals.models import (
    API_KIND,
    API_THREAD_PREFIX,
    POLICY_DECIDER,
    ApprovalRequest,
    Decision,
    DecisionType,
    Level,
    NewApprovalRequest,
    ProposedAction,
    Run,
    RunStatus,
    Status,
)
from approvals.policies import PolicySet
from approvals.store import Store
from approvals.store.api_keys import ApiRequest

log = logging.getLogger(__name__)

# How often a held `GET ?wait=N` reads the request's status again (one indexed read of one row).
POLL_SECONDS = 0.025
# Reads held at once per process: each holds one of the web process's threads (gunicorn runs 8), and Slack's
# clicks must always find a free one. A read past this answers at once, as the approval stands.
HELD_READS = 4
ALLOWED = [DecisionType.APPROVE, DecisionType.EDIT, DecisionType.REJECT, DecisionType.RESPOND]


def thread_of(approval_id: str) -> str:
    """The run an API approval waits in: one per approval, named after it."""
    return f"{API_THREAD_PREFIX}{approval_id}"


class NotYours(Exception):
    """The approval exists and belongs to another agent."""


@dataclass
class Approvals:
    """The API's work: `ask` (stored before it answers; idempotent per agent and key), `read`, `wait`, `report`."""

    store: Store
    front_end: FrontEnd
    policies: PolicySet
    admin_settings: AdminSettings
    default_timeout: timedelta
    sleep: Callable[[float], None] = time.sleep
    held: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(HELD_READS))

    def ask(self, ask: Ask, key_id: str | None = None) -> tuple[ApprovalRequest, bool]:
        """The approval for this call (asked with the key `key_id`), stored and shown (or decided by an `auto`
        rule); True when it is new."""
        fresh = uuid.uuid4().hex
        asked = self.store.api_keys.ask(fresh, ask.agent, ask.idempotency_key, ask.model_dump(mode="json"), key_id)
        # Asked before with this key: the same approval, finished here if a crash cut the first request short.
        return self._finish(asked), asked.approval_id == fresh

    def _finish(self, asked: ApiRequest) -> ApprovalRequest:
        """Store what is missing of the approval `asked` describes, decide it if its rule is `auto`, show it if not."""
        try:
            approval = self.store.requests.get(asked.approval_id)
        except ApprovalNotFound:
            approval = self._store(Ask.model_validate(asked.body), asked.approval_id)
        if approval.is_pending and approval.gate_of(0).level is Level.AUTO:
            try:
                decision = Decision(type=DecisionType.APPROVE, decided_by=POLICY_DECIDER)
                approval = self.store.decisions.decide(approval.id, decision, [0]).approval
            except AlreadyDecided:
                approval = self.store.requests.get(approval.id)
            return approval
        if approval.shown_at is None and approval.is_pending:
            self._show(approval)
        return approval

    def _store(self, ask: Ask, approval_id: str) -> ApprovalRequest:
        context = ask.context
        summary = context.summary or f"{ask.tool} via the API"
        run = Run(
            thread_id=thread_of(approval_id),
            agent=ask.agent,
            input_text=summary,
            requested_by=ask.requested_by,
            status=RunStatus.WAITING,
        )
        self.store.runs.create_run(run)
        gate = call_gate(
            self.policies, self.admin_settings, ask.agent, ask.tool, ask.arguments, ask.arguments_schema, self.default_timeout
        )
        action = ProposedAction(
            tool=ask.tool,
            args=ask.arguments,
            description=context.summary or "",
            allowed_decisions=ALLOWED,
            args_schema=ask.arguments_schema,
            gate=gate,
        )
        new = NewApprovalRequest(
            thread_id=run.thread_id,
            interrupt_id=approval_id,
            kind=API_KIND,
            actions=[action],
            agent_message=context.reasoning or "",
            link=context.link,
            gate=request_gate([gate]),
        )
        try:
            return self.store.requests.create_request(new, approval_id)
        except IntegrityError:
            # The same key asked twice at once: the other request stored it first.
            return self.store.requests.get(approval_id)

    def _show(self, approval: ApprovalRequest) -> None:
        try:
            shown = self.front_end.tell(RequestToDecide(approval=approval, earlier=self.store.lists.decided_before(approval)))
        except FrontEndUnavailable:
            # Stored all the same, and owed: its run goes back to the workers, which show it from SQL.
            log.warning("could not show API approval %s; a worker will", approval.id, exc_info=True)
            self.store.runs.set_status(approval.thread_id, RunStatus.RUNNING)
            return
        if shown:
            self.store.requests.request_shown(approval.id)

    def read(self, approval_id: str, agent: str) -> ApprovalRequest:
        """The approval as it stands; `ApprovalNotFound` unless the API created it, `NotYours` for another agent's."""
        asked = self.store.api_keys.asked(approval_id)
        if asked is None:
            raise ApprovalNotFound(approval_id)
        if asked.agent != agent:
            raise NotYours(approval_id)
        return self.store.requests.get(approval_id)

    def wait(self, approval_id: str, agent: str, seconds: float) -> ApprovalRequest:
        """The approval once decided, or as it stands after `seconds` (SQL read every `POLL_SECONDS`); at once
        when `HELD_READS` reads are held already."""
        approval = self.read(approval_id, agent)
        if not approval.is_pending or seconds <= 0 or not self.held.acquire(blocking=False):
            return approval
        try:
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                self.sleep(min(POLL_SECONDS, max(0.0, until - time.monotonic())))
                if self.store.lists.statuses([approval_id]).get(approval_id) is not Status.PENDING:
                    return self.store.requests.get(approval_id)
        finally:
            self.held.release()
        return approval

    def report(self, approval_id: str, agent: str, report: Report) -> dict[str, Any]:
        """Store and audit the caller's report of what it did with the decision."""
        self.read(approval_id, agent)
        result = report.model_dump(mode="json")
        self.store.api_keys.report(approval_id, agent, result)
        return result
