"""A call cut off mid-way goes back to a person: when a worker died while a tool ran, nobody can tell whether
the call took effect, so the run waits on a request of its own kind (`in_doubt`) under the call's own rule,
judged on the arguments it ran with: **Run it again** (approve) runs the tool once more with the same
idempotency key; **Don't** (reject, and what its deadline says) tells the agent it was not run again.
Until someone answers, the agent does not go past the call's step: calls approved with it in that step still run
once each (each was approved on its own), and two cut off together are asked about in turn (a step raises one).
Tools declared idempotent are run again without asking.

Each cut-off attempt of a call has its own request (`in-doubt:<key>:<n>`): an answer is used once, as the
journal acts on it, so a worker dying again during the re-run asks again rather than re-running unasked. A Don't
is final: the journal keeps the call finished with no result, and a later run of its task is told the same.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from approvals.models import (
    IN_DOUBT_KIND,
    ApprovalRequest,
    DecisionType,
    Gate,
    Level,
    NewApprovalRequest,
    ProposedAction,
    Run,
)
from approvals.store import Store

if TYPE_CHECKING:  # a tool reading its key loads nothing of LangGraph through this module
    from langchain_core.runnables import RunnableConfig

    from worker.graph_session import GraphSession

log = logging.getLogger(__name__)

# Where a tool finds its call's idempotency key in its `RunnableConfig` (`countersign.agents.idempotency_key`).
IDEMPOTENCY_KEY = "countersign_idempotency_key"

JournalKey = tuple[str, str, str]  # thread, task (checkpoint namespace), tool call id


def call_key(key: JournalKey) -> str:
    """The call's stable idempotency key: the same for every attempt of one call of one task of one run."""
    return "cs-" + hashlib.sha256("\x1f".join(key).encode()).hexdigest()[:40]


def idempotency_key(config: Any) -> str | None:
    """The idempotency key of the tool call running with this `RunnableConfig` (None outside a Countersign job)."""
    configurable = (config or {}).get("configurable") or {}
    key = configurable.get(IDEMPOTENCY_KEY)
    return str(key) if key else None


@dataclass
class CallInDoubt(Exception):
    """A call started in a worker that died and never finished: the run waits for a person (`attempt`: which
    cut-off of this call; `asked`: its request exists already)."""

    key: JournalKey
    tool: str
    call_args: dict[str, Any]
    attempt: int
    asked: bool = False

    def __str__(self) -> str:
        return f"tool call {self.tool} ({self.key[2]}) of run {self.key[0]} is in doubt"


def doubt_id(key: JournalKey, attempt: int) -> str:
    """The interrupt id of the request about one cut-off attempt of a call."""
    return f"in-doubt:{call_key(key)}:{attempt}"


def answer_for(store: Store, key: JournalKey, tool: str, args: dict[str, Any]) -> ApprovalRequest:
    """The decided, not yet used, answer about this cut-off call; raises `CallInDoubt` while there is none."""
    prefix = f"in-doubt:{call_key(key)}:"
    asked = [r for r in store.lists.requests_for_thread(key[0]) if r.kind == IN_DOUBT_KIND and r.interrupt_id.startswith(prefix)]
    latest = asked[-1] if asked else None
    if latest is None or latest.resumed_at is not None:  # never asked, or its answer was used by an earlier re-run
        raise CallInDoubt(key, tool, args, attempt=len(asked) + 1)
    if latest.is_pending:
        raise CallInDoubt(key, tool, args, attempt=len(asked), asked=True)
    return latest


def runs_again(store: Store, answer: ApprovalRequest) -> bool:
    """Use the answer (once) and say whether the call runs again; audited either way."""
    decision = answer.action.decision
    again = decision is not None and decision.type is DecisionType.APPROVE
    store.requests.mark_resumed(answer)
    detail = {"tool": answer.action.tool, "tool_call_id": answer.action.call_id, "decided_by": decision and decision.decided_by}
    store.audit_log.audit("tool_call_rerun" if again else "tool_call_not_rerun", answer.id, None, detail)
    return again


def carry_on(graph: GraphSession, config: RunnableConfig, store: Store, answer: ApprovalRequest) -> None:
    """Run the cut-off call's task again, for the journal to act on the answer; an answer it never reached (the
    task is gone) is owed no more."""
    graph.invoke(None, config)
    if store.requests.get(answer.id).resumed_at is None:
        log.warning("in-doubt request %s: its call's task did not run again; nothing acted on the answer", answer.id)
        store.audit_log.audit("stale_resume_skipped", answer.id, None, {"interrupt_id": answer.interrupt_id})
        store.requests.mark_resumed(answer)


def _fail_closed(gate: Gate) -> Gate:
    # Its deadline says Don't: running a call again is never what silence means. Nor does an approval cover it,
    # nor does a rule that lets calls go ahead unasked (`auto`): a person answers.
    return gate.model_copy(
        update={
            "level": Level.HARD if gate.level is Level.AUTO else gate.level,
            "on_timeout": "reject" if gate.on_timeout == "approve" else gate.on_timeout,
            "final_on_timeout": "reject",
            "remember": "off",
        }
    )


def asking(
    work: Callable[[Run], str],
    store: Store,
    gate_of: Callable[[str, str, dict[str, Any], dict[str, Any] | None], Gate],
    show: Callable[[ApprovalRequest], None],
) -> Callable[[Run], str]:
    """`work` on a run, putting a call it finds cut off mid-way to a person (and the run then waits)."""

    def work_or_ask(run: Run) -> str:
        try:
            return work(run)
        except CallInDoubt as doubt:
            return ask(store, doubt, gate_of, show)

    return work_or_ask


def ask(
    store: Store,
    doubt: CallInDoubt,
    gate_of: Callable[[str, str, dict[str, Any], dict[str, Any] | None], Gate],
    show: Callable[[ApprovalRequest], None],
) -> str:
    """Put the cut-off call to a person (stored once, shown until a front-end showed it) and let the run wait."""
    thread_id = doubt.key[0]
    interrupt_id = doubt_id(doubt.key, doubt.attempt)
    request = next((r for r in store.lists.requests_for_thread(thread_id) if r.interrupt_id == interrupt_id), None)
    if request is None:
        run = store.runs.get_run(thread_id)
        gate = _fail_closed(gate_of(run.agent, doubt.tool, doubt.call_args, None))
        action = ProposedAction(
            tool=doubt.tool,
            args=doubt.call_args,
            description="The worker stopped while this call ran; it may or may not have taken effect.",
            allowed_decisions=[DecisionType.APPROVE, DecisionType.REJECT],
            call_id=doubt.key[2],
            gate=gate,
        )
        request = store.requests.create_request(
            NewApprovalRequest(thread_id=thread_id, interrupt_id=interrupt_id, kind=IN_DOUBT_KIND, actions=[action], gate=gate),
            approval_id=hashlib.sha256(interrupt_id.encode()).hexdigest()[:32],
        )
        detail = {"tool": doubt.tool, "tool_call_id": doubt.key[2], "attempt": doubt.attempt, "args": doubt.call_args}
        store.audit_log.audit("tool_call_in_doubt", request.id, None, detail)
        log.warning("tool call %s (%s) was cut off by a worker's death; asking whether to run it again", doubt.tool, doubt.key)
    if request.shown_at is None:
        show(request)  # a front-end that cannot show it raises: the attempt is retried, and shows it then
    store.runs.waiting(thread_id)
    return "in doubt"
