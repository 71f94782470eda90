"""Running agents: start a run, resume it with a decision, and turn where it stopped into Slack messages.

Resumes of one LangGraph thread never overlap (a Redis lock per thread), and a resume only
answers the interrupt that is still pending: a stale decision resumes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langgraph.pregel import Pregel
from langgraph.types import StateSnapshot
from redis import Redis
from slack_sdk.errors import SlackApiError

from approvals.admin_settings import AdminSettings
from approvals.approval_store import ApprovalStore
from approvals.errors import UnknownAgent
from approvals.models import (
    DEADLINE_DECIDER,
    POLICY_DECIDER,
    ApprovalRequest,
    Decision,
    DecisionType,
    Level,
    NewApprovalRequest,
    Run,
    RunStatus,
    utcnow,
)
from approvals.policies import PolicySet, strictest
from approvals.settings import Settings
from bot.outbound import SlackNotifier
from countersign.job_queue import JobQueue, RunRequest
from worker.checkpointer import open_checkpointer
from worker.interrupts import Pause, adapter_for, adapter_for_kind
from worker.registry import Agent, AgentRegistry

log = logging.getLogger(__name__)



def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def pauses(graph: Pregel, state: StateSnapshot) -> list[Pause]:
    """Where a run stopped: its pending interrupts, or a static breakpoint before a node. Empty when it
    finished, or when a crashed attempt left it half-way (then `invoke(None)` carries on)."""
    if state.interrupts:
        return [Pause(i.id, i.value, getattr(i, "response_schema", None)) for i in state.interrupts]
    before = graph.interrupt_before_nodes
    if state.next and (before == "*" or state.next[0] in before):
        message = next((m for m in reversed(_messages(state.values)) if isinstance(m, AIMessage)), None)
        calls = [dict(call) for call in message.tool_calls] if message is not None else []
        # The checkpoint id names this stop: after a resume the thread has moved on to another.
        return [Pause(state.config["configurable"]["checkpoint_id"], calls, breakpoint_node=state.next[0])]
    return []


def _messages(values: Any) -> list[BaseMessage]:
    return values.get("messages", []) if isinstance(values, dict) else []


def latest_agent_message(values: Any) -> str:
    """The text of the agent's latest message (its reasoning before the call), if the state has one."""
    for message in reversed(_messages(values)):
        if isinstance(message, AIMessage):
            return message.text if hasattr(message, "text") else str(message.content)
    return ""


class AgentRuntime:
    """Everything a job needs, built once in the worker's parent process and inherited by each job."""

    def __init__(
        self,
        settings: Settings,
        store: ApprovalStore,
        registry: AgentRegistry,
        notifier: SlackNotifier,
        redis: Redis,
        policies: PolicySet,
        queue: JobQueue,
        admin_settings: AdminSettings,
    ) -> None:
        self.settings = settings
        self.policies = policies
        self.queue = queue
        self.admin_settings = admin_settings
        self.store = store
        self.registry = registry
        self.notifier = notifier
        self.redis = redis

    def _thread_lock(self, thread_id: str) -> Any:
        # Held for as long as a job may run, so a second resume of the thread waits its turn.
        timeout = self.settings.run_timeout
        return self.redis.lock(f"countersign:thread:{thread_id}", timeout=timeout, blocking_timeout=timeout)

    def start(self, request: RunRequest) -> str:
        """Run an agent on a new thread until it ends or interrupts; returns what happened."""
        run = self.store.create_run(Run(**request.model_dump()))
        try:
            agent = self.registry.get(request.agent)
        except UnknownAgent as error:
            # Retrying cannot help; tell whoever asked instead.
            self.report_failure(run.thread_id, str(error))
            return "unknown agent"
        with self._thread_lock(run.thread_id), open_checkpointer(self.settings) as saver:
            graph = agent.bind(saver)
            state = graph.get_state(_config(run.thread_id))
            if state.values:
                # A retried job: the first attempt got somewhere. Carry on if it died half-way; then post
                # whatever the run stopped at.
                if state.next and not pauses(graph, state):
                    graph.invoke(None, _config(run.thread_id))
                return self._settle(agent, graph, run)
            graph.invoke({"messages": [{"role": "user", "content": run.input_text}]}, _config(run.thread_id))
            return self._settle(agent, graph, run)

    def resume(self, approval_id: str) -> str:
        """Resume the run a decided request paused, if that request's interrupt is still the pending one."""
        approval = self.store.get(approval_id)
        if approval.is_pending:
            log.warning("approval %s is not fully decided yet; nothing to resume", approval_id)
            return "undecided"
        agent = self.registry.get(approval.run.agent)
        with self._thread_lock(approval.thread_id), open_checkpointer(self.settings) as saver:
            graph = agent.bind(saver)
            config = _config(approval.thread_id)
            state = graph.get_state(config)
            stops = pauses(graph, state)
            if approval.interrupt_id not in {pause.id for pause in stops}:
                if approval.resumed_at is not None and state.next and not stops:
                    # An earlier attempt of this very resume died mid-way: carry on from its last checkpoint.
                    graph.invoke(None, config)
                    return self._settle(agent, graph, approval.run)
                log.warning(
                    "stale decision: approval %s answers interrupt %s of thread %s, which is no longer pending; "
                    "resuming nothing",
                    approval.id,
                    approval.interrupt_id,
                    approval.thread_id,
                )
                self.store.audit("stale_resume_skipped", approval.id, None, {"interrupt_id": approval.interrupt_id})
                if approval.resumed_at is None:
                    self.store.mark_resumed(approval, run_continues=False)
                return "stale"
            self.store.mark_resumed(approval)
            adapter_for_kind(approval.kind).resume(graph, config, approval)
            return self._settle(agent, graph, self.store.get_run(approval.thread_id))

    def _settle(self, agent: Agent, graph: Pregel, run: Run) -> str:
        """After an invoke: ask humans about each new interrupt, resume at once what policy auto-approves,
        or post the final answer."""
        config = _config(run.thread_id)
        while True:
            state = graph.get_state(config)
            stops = pauses(graph, state)
            if not stops:
                break
            stored = {a.interrupt_id: a for a in self.store.requests_for_thread(run.thread_id)}
            auto_approved = []
            for pause in stops:
                request = stored.get(pause.id) or self._store_request(agent, run, pause, state.values)
                if request.gate.level is Level.AUTO and request.is_pending:
                    decision = Decision(type=DecisionType.APPROVE, decided_by=POLICY_DECIDER)
                    auto_approved.append(self.store.decide(request.id, decision).approval)
                elif request.message_ts is None:
                    # New, or a retried job whose first attempt stored the request but could not post it.
                    self.schedule_deadline(self.notifier.post_request(request))
            if not auto_approved:
                self.store.update_run(run.thread_id, status=RunStatus.WAITING)
                return "waiting"
            for decided in auto_approved:
                self.store.mark_resumed(decided)
                adapter_for_kind(decided.kind).resume(graph, config, decided)
        answer = latest_agent_message(state.values) or "The run finished without a final message."
        self.store.update_run(run.thread_id, status=RunStatus.DONE, outcome=answer)
        self.notifier.post_outcome(self.store.get_run(run.thread_id), f":robot_face: *{run.agent}:* {answer}")
        return "done"

    def _store_request(self, agent: Agent, run: Run, pause: Pause, values: Any) -> ApprovalRequest:
        adapter = adapter_for(pause)
        actions = adapter.to_actions(pause, agent.tool_schemas)
        rule = strictest([self.policies.rule_for(run.agent, action.tool, action.args) for action in actions])
        # Admins' settings from Slack apply to new requests at once, on top of the policy file.
        gate = self.admin_settings.for_call(run.agent, actions[0].tool).apply(
            rule.gate(self.settings.countersign_default_timeout)
        )
        return self.store.create_request(
            NewApprovalRequest(
                thread_id=run.thread_id,
                interrupt_id=pause.id,
                kind=adapter.kind,
                actions=actions,
                agent_message=latest_agent_message(values),
                gate=gate,
            )
        )

    # Deadlines

    def schedule_deadline(self, approval: ApprovalRequest) -> None:
        """Schedule the wake-up for the request's current deadline, and its reminders."""
        if approval.deadline_at is None:
            return
        self.queue.schedule_deadline(approval.deadline_at)
        for before in approval.gate.reminders:
            at = approval.deadline_at - before
            if at > utcnow():
                self.queue.schedule_reminder(approval.id, approval.stage, at)

    def fire_deadlines(self) -> list[str]:
        """Apply every due deadline: reject or approve (all at once, in SQL), or escalate; returns the ids handled."""
        now = utcnow()
        completed = self.store.expire_due(now, DEADLINE_DECIDER)
        for approval_id in completed:
            # Committed first, as a click's decision is; then the run is told, then Slack.
            self.queue.enqueue_resume(approval_id)
        for approval_id in completed:
            try:
                self.notifier.update_request(self.store.get(approval_id))
            except SlackApiError:
                # The outcome stands in SQL and the run was told; one message failing must not hold up the rest.
                log.exception("approval %s expired but its message could not be updated", approval_id)
        escalated = []
        for approval in self.store.escalations_due(now):
            stage = approval.gate.escalation[approval.stage]
            moved = self.store.escalate(approval, stage.channel, now)
            if moved is None:
                continue  # decided (or escalated) meanwhile: first one wins
            self.notifier.post_escalation(moved)
            self.schedule_deadline(moved)
            escalated.append(moved.id)
        return completed + escalated

    def remind(self, approval_id: str, stage: int) -> None:
        """Post a reminder in the request's thread, if it still waits at that stage."""
        approval = self.store.get(approval_id)
        if approval.is_pending and approval.stage == stage:
            self.notifier.post_reminder(approval)

    def report_failure(self, thread_id: str, error: str) -> None:
        """Tell the run's Slack thread (or requester's channel) that the run failed for good."""
        try:
            run = self.store.get_run(thread_id)
        except KeyError:
            log.error("run %s failed before it was recorded: %s", thread_id, error)
            return
        self.store.update_run(thread_id, status=RunStatus.FAILED, outcome=error)
        self.notifier.post_outcome(run, f":warning: The `{run.agent}` run failed: {error}")
