"""Running agents: take a run to its next pause or its end, hand decisions to agents, and tell the
front-end where a run stopped (as events; the front-end words them).

Every job first takes the thread's lease (SQL), so one worker at a time works on a thread, and a
dead worker's thread is taken further by another within seconds. A decision counts as delivered
only once the agent's checkpoint moved past the interrupt it answered; a stale decision resumes
nothing. A failing attempt is recorded and retried with backoff (`worker.backoff`), and past the limit
the run fails and its followers are told; a front-end that cannot show what a run owes never fails it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import StateSnapshot
from redis.exceptions import RedisError

from approvals.admin_settings import AdminSettings
from approvals.decision_kinds import as_no, deliverable, goes_ahead
from approvals.errors import AlreadyDecided, ApprovalNotFound, UnknownAgent
from approvals.frontend import FrontEnd, FrontEndUnavailable, Notice, RequestChanged, RequestToDecide, RunEnded
from approvals.gates import call_gate, request_gate
from approvals.job_queue import JobQueue
from approvals.models import (
    API_KIND,
    API_THREAD_PREFIX,
    IN_DOUBT_KIND,
    REPEATED_IDS_DECIDER,
    ApprovalRequest,
    Decision,
    DecisionType,
    Ending,
    Gate,
    NewApprovalRequest,
    Run,
    RunStatus,
    utcnow,
)
from approvals.policies import PolicySet
from approvals.remembering import without_people
from approvals.settings import Settings
from approvals.stopping import tell_stop_again
from approvals.store import Store
from worker import in_doubt
from worker import metrics as worker_metrics
from worker.backoff import backoff
from worker.checkpointer import KeptCheckpointer
from worker.graph_session import GraphSession, graph_session
from worker.interrupts import Pause, Resumed, adapter_for, adapter_for_kind, pause_refusal
from worker.leases import lease
from worker.progress import RunProgress
from worker.registry import Agent, AgentRegistry
from worker.run_state import latest_agent_message, pauses, state_messages
from worker.tool_journal import RunHalted, journalling
from worker.webhooks import deliver, given_up

log = logging.getLogger(__name__)


def _config(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


def _refused_for_repeated_ids(requests: list[ApprovalRequest]) -> bool:
    """True when any of these requests was refused because its calls shared a tool-call id."""
    return any(
        action.decision is not None and action.decision.decided_by == REPEATED_IDS_DECIDER
        for request in requests
        for action in request.actions
    )


class DeliveryFailed(RuntimeError):
    """The graph was resumed, yet the interrupt the decision answers is still pending."""


@dataclass(eq=False)
class AgentRuntime:
    """Everything a job needs, built once per worker process (and inherited by forked jobs)."""

    settings: Settings
    store: Store
    registry: AgentRegistry
    front_end: FrontEnd
    policies: PolicySet
    queue: JobQueue
    admin_settings: AdminSettings
    clock: Callable[[], datetime] = utcnow
    lease_ttl: timedelta = field(init=False)
    checkpointer: KeptCheckpointer = field(init=False)

    def __post_init__(self) -> None:
        self.lease_ttl = timedelta(seconds=self.settings.lease_seconds)
        self.checkpointer = KeptCheckpointer(self.settings)

    # Jobs

    def advance(self, thread_id: str) -> str:
        """Take a run further: start it, carry on after a worker died mid-way, post what it stopped at,
        or tell its outcome. Returns what happened (`busy` when another worker holds the run)."""
        return self._with_lease(thread_id, self._advance)

    def resume(self, approval_id: str) -> str:
        """Hand a decided request to its agent, if its interrupt is still the pending one; then take the run further."""
        try:
            # Just which run to lease: the request itself is read under the lease, as it stands then.
            thread_id = self.store.requests.thread_of(approval_id)
        except ApprovalNotFound:
            log.error("resume of unknown approval %s: nothing to do", approval_id)
            return "unknown"
        return self._with_lease(thread_id, lambda run: self._resume(run, self.store.requests.get(approval_id)))

    def _with_lease(self, thread_id: str, work: Callable[[Run], str]) -> str:
        try:
            with lease(self.store, thread_id, self.lease_ttl) as run:
                if run is None:
                    log.info("run %s is held by another worker's lease; it hands on what is owed when done", thread_id)
                    return "busy"
                if run.attempts > self.settings.max_attempts and run.status.is_owed_work:
                    return self._give_up(run, None)
                try:
                    outcome = in_doubt.asking(work, self.store, self._gate, self._show_request)(run)
                except RunHalted:  # a person stopped the run: its next tool call did not start, nothing more runs
                    outcome = "halted"
                    for approval_id in self.store.runs.withdraw_left(thread_id):  # shown again: the stop raced this job
                        self._refresh_message(approval_id)
                except UnknownAgent as error:
                    # Retrying cannot help; tell whoever asked instead.
                    self._finish(thread_id, RunStatus.FAILED, Ending(kind="failed", error=str(error)))
                    return "unknown agent"
                except Exception as error:  # noqa: BLE001 - recorded, retried, and told once it fails for good
                    return self._attempt_failed(self.store.runs.get_run(thread_id), error)
        except KeyError:
            log.error("job for unknown run %s: nothing to do", thread_id)
            return "unknown"
        self._hand_on(thread_id)
        return outcome

    def _hand_on(self, thread_id: str) -> None:
        """After letting a thread go, enqueue what it still owes at once (the dispatcher would, within a tick)."""
        try:
            for approval_id in self.store.due.other_resumes_owed(thread_id):
                self.queue.enqueue_resume(approval_id)
        except RedisError:
            log.warning("could not hand on the owed work of run %s; the dispatcher will", thread_id)

    def _attempt_failed(self, run: Run, error: Exception) -> str:
        if isinstance(error, FrontEndUnavailable):  # what a front-end could not show stays owed; it never fails the run
            wait, owed = backoff(run.attempts, lasting=error.lasting), {"reason": error.reason, "lasting": error.lasting}
            log.warning("run %s: not shown (%s); tried again in %d s", run.thread_id, error, wait)
            self.store.runs.not_shown(run.thread_id, utcnow() + timedelta(seconds=wait), self.settings.max_attempts - 1, owed)
            return "not shown"
        ref = uuid.uuid4().hex[:8]
        log.error("run %s: attempt %d failed (ref %s)", run.thread_id, run.attempts, ref, exc_info=error)
        if run.attempts >= self.settings.max_attempts:
            return self._give_up(run, ref)
        detail = {"ref": ref, "error": type(error).__name__, "attempt": run.attempts}
        self.store.runs.failed_attempt(run.thread_id, utcnow() + timedelta(seconds=backoff(run.attempts)), detail)
        return "retrying"

    def _give_up(self, run: Run, ref: str | None) -> str:
        ref = ref or uuid.uuid4().hex[:8]
        log.error("run %s failed for good after %d attempts (ref %s)", run.thread_id, run.attempts, ref)
        given_up(self.store, run.thread_id, run.attempts, ref)
        self._finish(run.thread_id, RunStatus.FAILED, Ending(kind="gave_up", attempts=run.attempts, ref=ref))
        return "failed"

    # Starting and carrying on

    def _advance(self, run: Run) -> str:
        if run.status in (RunStatus.DONE, RunStatus.FAILED):
            if run.outcome_posted_at is None:
                self._tell_ending(run, again=True)
            return run.status.value
        if run.status is RunStatus.WAITING:
            return "waiting"
        if run.thread_id.startswith(API_THREAD_PREFIX):
            # An approval asked over the API: no graph runs on its thread; what it can owe is being shown.
            return self._show_asked(run, [r for r in self.store.lists.requests_for_thread(run.thread_id) if r.kind == API_KIND])
        agent = self.registry.get(run.agent)  # its lease made a queued run running
        config = _config(run.thread_id)
        with (
            self._session(agent, run) as (graph, progress, state),
            journalling(self.store, run.thread_id, agent.idempotent_tools),
        ):
            current: StateSnapshot | None = state
            if not state.values:
                graph.invoke({"messages": [{"role": "user", "content": run.input_text}]}, config)
                current = None
            elif state.tasks and not pauses(graph, state):
                # An earlier attempt died half-way: carry on from its last checkpoint. (`tasks`, not `next`:
                # a task whose writes were saved before the kill is left out of `next`, yet still to apply.)
                graph.invoke(None, config)
                current = None
            return self._settle(agent, graph, run, progress, current)

    @contextmanager
    def _session(self, agent: Agent, run: Run) -> Iterator[tuple[GraphSession, RunProgress | None, StateSnapshot]]:
        """The job's graph, the run's progress message following its steps (unless the agent is quiet), and
        the thread's state as the job starts (read once: each read loads and decodes the checkpoint)."""
        if not agent.progress:
            with graph_session(agent, self.settings, kept=self.checkpointer) as graph:
                yield graph, None, graph.get_state(_config(run.thread_id))
            return
        with graph_session(agent, self.settings, kept=self.checkpointer) as graph:
            state = graph.get_state(_config(run.thread_id))
            progress = RunProgress(self.store, self.front_end, run, state_messages(state.values))
            graph.on_step = progress.on_step
            try:
                yield graph, progress, state
            finally:
                progress.flush()

    # Handing decisions to agents

    def _resume(self, run: Run, approval: ApprovalRequest) -> str:
        if run.stop_requested_at is not None:
            return "halted"  # a person stopped the run: its agent is not resumed
        if approval.is_pending:
            log.warning("approval %s is not fully decided yet; nothing to resume", approval.id)
            return "undecided"
        if approval.resumed_at is not None:
            return "already resumed"
        if approval.kind == API_KIND:
            return self._delivered_to_caller(approval)
        if run.status in (RunStatus.DONE, RunStatus.FAILED):
            # Ended since (an answer to a call cut off mid-way carried the run on before this decision, delivered by
            # a worker that died, was marked): nothing is left to resume, and settling again would end it twice.
            self.store.requests.mark_resumed(approval, run_continues=False)
            return "run ended"
        agent = self.registry.get(run.agent)
        config = _config(approval.thread_id)
        with (
            self._session(agent, run) as (graph, progress, state),
            journalling(self.store, run.thread_id, agent.idempotent_tools) as journal,
        ):
            stops = pauses(graph, state)
            journal.clicked_at = worker_metrics.click_time(approval)  # metrics: click -> tool start
            after: StateSnapshot | None = None
            if approval.interrupt_id in {pause.id for pause in stops}:
                resumed, after = self._deliver(agent, graph, config, approval)
                if resumed is Resumed.STOPPED:
                    return self._stopped(approval)
            elif approval.delivery_started_at is not None:
                # An earlier attempt delivered it and died before saying so: the checkpoint moved on.
                self.store.requests.mark_resumed(approval)
                if state.tasks and not stops:
                    graph.invoke(None, config)
            elif approval.kind == IN_DOUBT_KIND:  # the cut-off call's task runs again; the journal acts on the answer
                in_doubt.carry_on(graph, config, self.store, approval)
            else:
                log.warning(
                    "stale decision: approval %s answers interrupt %s of thread %s, which is no longer pending; resuming nothing",
                    approval.id,
                    approval.interrupt_id,
                    approval.thread_id,
                )
                self.store.audit_log.audit("stale_resume_skipped", approval.id, None, {"interrupt_id": approval.interrupt_id})
                self.store.requests.mark_resumed(approval, run_continues=False)
                return "stale"
            try:
                return self._settle(agent, graph, run, progress, after)
            finally:
                # The net for a bot that died before showing the decision it acked: by the job's end, the bot's draw
                # is usually noted, and not made twice.
                self._refresh_message(approval.id, unless_shown=True)

    def _show_asked(self, run: Run, asked: list[ApprovalRequest]) -> str:
        """Show the API's requests that could not be shown when asked; the run then waits for their decision.
        A front-end that fails raises: the attempt is retried from SQL."""
        for request in asked:
            if request.is_pending and request.shown_at is None:
                self._show_request(request)
        self.store.runs.waiting(run.thread_id)
        return "waiting"

    def _delivered_to_caller(self, approval: ApprovalRequest) -> str:
        """An approval asked over the API has no graph to resume: its caller reads the decision, or is sent it
        (its webhook, raising until acknowledged). Then its run ends (quietly: the request's own message already
        says how it was decided)."""
        deliver(self.store, approval)
        self.store.requests.mark_resumed(approval, run_continues=False)
        self.store.runs.finish_run(approval.thread_id, RunStatus.DONE, Ending(kind="answered", answer=approval.status.value))
        self.store.runs.outcome_posted(approval.thread_id)
        return "delivered to the API caller"

    def _deliver(
        self, agent: Agent, graph: GraphSession, config: RunnableConfig, approval: ApprovalRequest
    ) -> tuple[Resumed, StateSnapshot | None]:
        """Resume the graph with the decision, and count it delivered only once the interrupt is answered.
        Returns how, and the thread's state after it (None when it stopped)."""
        adapter = adapter_for_kind(approval.kind)
        told_no: ApprovalRequest | None = approval
        if approval.delivery_started_at is not None and adapter.acts_in_node(approval):
            told_no = self._fail_closed(approval)
        ready = deliverable(told_no) if told_no is not None else None
        if ready is None:
            return Resumed.STOPPED, None
        approval = ready
        self.store.requests.start_delivery(approval)
        resumed = adapter.resume(graph, config, approval, agent)
        if resumed is Resumed.STOPPED:
            return resumed, None
        after = graph.get_state(config)
        if approval.interrupt_id in {pause.id for pause in pauses(graph, after)}:
            raise DeliveryFailed(f"approval {approval.id}: the graph still waits on interrupt {approval.interrupt_id}")
        self.store.requests.mark_resumed(approval)
        if resumed is Resumed.SKIPPED:
            refusal = next(a.decision for a in approval.actions if a.decision and not goes_ahead(a.decision.type))
            self._notice(
                Notice(
                    run=approval.run,
                    kind="call_skipped",
                    tool=approval.action.tool,
                    decided_by=refusal.decided_by,
                    reason=refusal.message,
                )
            )
        return resumed, after

    def _stopped(self, approval: ApprovalRequest) -> str:
        """Nothing the agent reads could carry the "no": the run stops where it is, never resumed."""
        decision = next((a.decision for a in approval.actions if a.decision and not goes_ahead(a.decision.type)), None)
        self.store.requests.mark_resumed(approval, run_continues=False)
        self.store.audit_log.audit("run_stopped", approval.id, None, {"interrupt_id": approval.interrupt_id})
        self._refresh_message(approval.id)
        if decision is not None and decision.decided_by == REPEATED_IDS_DECIDER:
            ending = Ending(kind="stopped_repeated_ids")
        else:
            ending = Ending(
                kind="stopped",
                decided_by=decision.decided_by if decision else None,
                reason=decision.message if decision else None,
                pause_kind=approval.kind,
            )
        self._finish(approval.thread_id, RunStatus.DONE, ending)
        return "stopped"

    def _fail_closed(self, approval: ApprovalRequest) -> ApprovalRequest | None:
        """An earlier attempt died while the agent acted on this decision in the node that asked; doing it
        again could do it twice. The agent is told no instead, and the run's followers why; None when a call
        can be told no no way (the run stops)."""
        reason = (
            "The worker stopped while this was being carried out; Countersign cannot tell whether it took "
            "effect, so it did not carry it out again."
        )
        actions = []
        for action in approval.actions:
            decision = action.decision
            if decision is not None and goes_ahead(decision.type):
                decision = as_no(decision, action.allowed_decisions, reason)
                if decision is None:
                    return None
            actions.append(action.model_copy(update={"decision": decision}))
        self.store.audit_log.audit("delivery_uncertain", approval.id, None, {"interrupt_id": approval.interrupt_id})
        self._notice(Notice(run=approval.run, kind="delivery_uncertain", reason=reason, approval_id=approval.id))
        return approval.model_copy(update={"actions": actions})

    def _refresh_message(self, approval_id: str, *, unless_shown: bool = False) -> None:
        """Show the request again as SQL has it (a bot that died after a click may have left it stale)."""
        approval = self.store.requests.get(approval_id)
        try:
            earlier = self.store.lists.decided_before(approval)
            self.front_end.tell(RequestChanged(approval=approval, earlier=earlier, unless_shown=unless_shown))
        except FrontEndUnavailable:
            log.warning("could not refresh the message of approval %s", approval_id, exc_info=True)

    # Where the run stopped

    def _settle(
        self,
        agent: Agent,
        graph: GraphSession,
        run: Run,
        progress: RunProgress | None = None,
        current: StateSnapshot | None = None,
    ) -> str:
        """After an invoke: ask humans about each new interrupt, resume at once what policy auto-approves,
        or record and post the final answer. `current` is the thread's state if the caller just read it; of `run`,
        only what never changes is read (its thread and agent)."""
        config = _config(run.thread_id)
        while True:
            if self.store.runs.stop_requested(run.thread_id):
                raise RunHalted(run.thread_id)
            state = current if current is not None else graph.get_state(config)
            current = None
            stops = pauses(graph, state)
            if not stops:
                break
            stored = {a.interrupt_id: a for a in self.store.lists.requests_for_thread(run.thread_id)}
            # Requests decided here, by the policy or refused: delivered at once (or, refused again, stopped).
            decided_here: list[ApprovalRequest] = []
            stop_here: list[ApprovalRequest] = []
            for pause in stops:
                request = stored.get(pause.id) or self._store_request(agent, run, pause, state.values)
                refusal = pause_refusal(pause)
                if refusal is not None and request.is_pending:
                    # Calls that share an id cannot be told apart: nobody decides them one by one (nor does the
                    # policy); they are refused before the request is posted, and the message says why.
                    refused = self._refuse(request, refusal)
                    if refused is not None:
                        request = refused
                        # Told once and repeating ids again, the agent would be asked forever: the run stops.
                        again = _refused_for_repeated_ids([r for r in stored.values() if r.id != request.id][-1:])
                        (stop_here if again else decided_here).append(request)
                # The calls whose own rule is `auto`, or that an approval of the run covers; the others wait for people.
                unattended = without_people(self.store, request, self.clock())
                request = unattended.approval
                for notice in unattended.notices:
                    self._notice(notice)
                if unattended.completed:
                    decided_here.append(request)
                    continue
                if request.shown_at is None:
                    # New, or a retried job whose first attempt stored the request but could not show it.
                    self._show_request(request)
                    if progress is not None:
                        progress.flush()  # what led to the request, in the thread it just made
            if stop_here:
                for other in [*decided_here, *stop_here[1:]]:
                    # Decided beside the refusal that stops the run: owed to no one once it has stopped.
                    self.store.requests.mark_resumed(other, run_continues=False)
                return self._stopped(stop_here[0])
            if not decided_here:
                if not self.store.runs.waiting(run.thread_id):
                    raise RunHalted(run.thread_id)  # stopped as its requests were stored
                return "waiting"
            for decided in decided_here:
                resumed, current = self._deliver(agent, graph, config, decided)
                if resumed is Resumed.STOPPED:
                    return self._stopped(decided)
        answer = latest_agent_message(state.values) or "The run finished without a final message."
        self._finish(run.thread_id, RunStatus.DONE, Ending(kind="answered", answer=answer))
        return "done"

    def _finish(self, thread_id: str, status: RunStatus, ending: Ending) -> None:
        """Record how the run ended (first), then tell its followers."""
        finished = self.store.runs.finish_run(thread_id, status, ending)
        if finished.stop_requested_at is None:  # a stopped run's ending is told by whoever stopped it
            self._tell_ending(finished)

    def _tell_ending(self, run: Run, again: bool = False) -> None:
        """Tell how a finished run ended, as stored, and note it told (a run ended but not told is still owed)."""
        if again and run.stop_requested_at is not None:  # its stopper did not note the stop told: all of it is told again
            return tell_stop_again(self.store, self.front_end, run)
        self.front_end.tell(RunEnded(run=run, again=again, ending=run.ending or Ending(kind="answered", answer=run.outcome)))
        self.store.runs.outcome_posted(run.thread_id)

    def _notice(self, notice: Notice) -> None:
        try:
            self.front_end.tell(notice.model_copy(update={"run": self.store.runs.get_run(notice.run.thread_id)}))
        except FrontEndUnavailable:
            log.warning("could not tell run %s's followers: %s", notice.run.thread_id, notice.kind, exc_info=True)

    def _show_request(self, request: ApprovalRequest) -> None:
        if self.front_end.tell(RequestToDecide(approval=request, earlier=self.store.lists.decided_before(request))):
            self.store.requests.request_shown(request.id)
        else:
            log.warning("no front-end showed request %s; its run waits for a decision all the same", request.id)

    def _refuse(self, request: ApprovalRequest, refusal: str) -> ApprovalRequest | None:
        """Reject every undecided call of the request as Countersign; None when people decided them all first."""
        decision = Decision(type=DecisionType.REJECT, decided_by=REPEATED_IDS_DECIDER, message=refusal)
        try:
            decided = self.store.decisions.decide(request.id, decision)
        except AlreadyDecided:
            return None
        return decided.approval if decided.completed else None

    def _gate(self, agent: str, tool: str, args: dict[str, Any], schema: dict[str, Any] | None) -> Gate:
        return call_gate(self.policies, self.admin_settings, agent, tool, args, schema, self.settings.countersign_default_timeout)

    def _store_request(self, agent: Agent, run: Run, pause: Pause, values: Any) -> ApprovalRequest:
        adapter = adapter_for(pause)
        kind, proposed = adapter.to_actions(pause, agent)
        if pause_refusal(pause) is not None:
            # Nothing is kept under an id several calls share, so no later step can match a call by it.
            proposed = [action.model_copy(update={"call_id": None}) for action in proposed]
        # Each call under its own rule, on the arguments the tool will receive, with the admins' settings for its tool and rule.
        actions = [
            action.model_copy(update={"gate": self._gate(run.agent, action.tool, action.args, action.args_schema)})
            for action in proposed
        ]
        return self.store.requests.create_request(
            NewApprovalRequest(
                thread_id=run.thread_id,
                interrupt_id=pause.id,
                kind=kind,
                actions=actions,
                agent_message=latest_agent_message(values),
                gate=request_gate([action.gate for action in actions if action.gate]),
            )
        )
