"""Running agents: start a run, resume it with a decision, and turn where it stopped into Slack messages.

Resumes of one LangGraph thread never overlap (a Redis lock per thread), and a resume only
answers the interrupt that is still pending: a stale decision resumes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langgraph.pregel import Pregel
from langgraph.types import Command, Interrupt
from redis import Redis

from approvals.approval_store import ApprovalStore
from approvals.errors import UnknownAgent
from approvals.models import ApprovalRequest, Decision, DecisionType, Level, NewApprovalRequest, Run, RunStatus
from approvals.policies import PolicySet, strictest
from approvals.settings import Settings
from bot.outbound import SlackNotifier
from countersign.job_queue import RunRequest
from worker.checkpointer import open_checkpointer
from worker.interrupts import adapter_for_kind, adapter_for_value
from worker.registry import Agent, AgentRegistry

log = logging.getLogger(__name__)

# Who the audit log and the message name as the decider of a call policy lets through.
AUTO_APPROVER = "countersign:policy"


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def latest_agent_message(values: Any) -> str:
    """The text of the agent's latest message (its reasoning before the call), if the state has one."""
    messages: list[BaseMessage] = values.get("messages", []) if isinstance(values, dict) else []
    for message in reversed(messages):
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
    ) -> None:
        self.settings = settings
        self.policies = policies
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
            if state.interrupts:
                # A retried job whose first attempt already reached the interrupt: just make sure it is posted.
                return self._settle(agent, graph, run)
            # `None` continues a thread that a crashed attempt left half-way.
            first_input = None if state.next else {"messages": [{"role": "user", "content": run.input_text}]}
            graph.invoke(first_input, _config(run.thread_id))
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
            if approval.interrupt_id not in {interrupt.id for interrupt in state.interrupts}:
                if approval.resumed_at is not None and state.next and not state.interrupts:
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
            value = adapter_for_kind(approval.kind).to_resume(approval)
            self.store.mark_resumed(approval)
            graph.invoke(Command(resume={approval.interrupt_id: value}), config)
            return self._settle(agent, graph, self.store.get_run(approval.thread_id))

    def _settle(self, agent: Agent, graph: Pregel, run: Run) -> str:
        """After an invoke: ask humans about each new interrupt, resume at once what policy auto-approves,
        or post the final answer."""
        config = _config(run.thread_id)
        while True:
            state = graph.get_state(config)
            if not state.interrupts:
                break
            stored = {a.interrupt_id: a for a in self.store.requests_for_thread(run.thread_id)}
            auto_approved: dict[str, Any] = {}
            for interrupt in state.interrupts:
                request = stored.get(interrupt.id) or self._store_request(agent, run, interrupt, state.values)
                if request.gate.level is Level.AUTO and request.is_pending:
                    decided = self.store.decide(request.id, Decision(type=DecisionType.APPROVE, decided_by=AUTO_APPROVER)).approval
                    self.store.mark_resumed(decided)
                    auto_approved[interrupt.id] = adapter_for_kind(decided.kind).to_resume(decided)
                elif request.message_ts is None:
                    # New, or a retried job whose first attempt stored the request but could not post it.
                    self.notifier.post_request(request)
            if not auto_approved:
                self.store.update_run(run.thread_id, status=RunStatus.WAITING)
                return "waiting"
            graph.invoke(Command(resume=auto_approved), config)
        answer = latest_agent_message(state.values) or "The run finished without a final message."
        self.store.update_run(run.thread_id, status=RunStatus.DONE, outcome=answer)
        self.notifier.post_outcome(self.store.get_run(run.thread_id), f":robot_face: *{run.agent}:* {answer}")
        return "done"

    def _store_request(self, agent: Agent, run: Run, interrupt: Interrupt, values: Any) -> ApprovalRequest:
        adapter = adapter_for_value(interrupt.value)
        actions = adapter.to_actions(interrupt.value, agent.tool_schemas, getattr(interrupt, "response_schema", None))
        rule = strictest([self.policies.rule_for(run.agent, action.tool, action.args) for action in actions])
        return self.store.create_request(
            NewApprovalRequest(
                thread_id=run.thread_id,
                interrupt_id=interrupt.id,
                kind=adapter.kind,
                actions=actions,
                agent_message=latest_agent_message(values),
                gate=rule.gate(),
            )
        )

    def report_failure(self, thread_id: str, error: str) -> None:
        """Tell the run's Slack thread (or requester's channel) that the run failed for good."""
        try:
            run = self.store.get_run(thread_id)
        except KeyError:
            log.error("run %s failed before it was recorded: %s", thread_id, error)
            return
        self.store.update_run(thread_id, status=RunStatus.FAILED, outcome=error)
        self.notifier.post_outcome(run, f":warning: The `{run.agent}` run failed: {error}")
