"""One worker at a time takes a thread further, a decision reaches its agent once, and a stale decision
resumes nothing (the worker's runtime, in-process)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from langchain_core.messages import ToolMessage
from langgraph.types import Command

from approvals.models import ApprovalRequest, Decision, DecisionType
from approvals.runs import RunRequest, start_run
from approvals.settings import Settings
from countersign.wiring import build_services
from worker.checkpointer import open_checkpointer
from worker.interrupts import langgraph_interrupt_id
from worker.runtime import AgentRuntime


@pytest.fixture(scope="module")
def runtime(private_settings: Settings) -> Iterator[AgentRuntime]:
    yield build_services(private_settings).runtime


def _waiting_request(runtime: AgentRuntime, text: str) -> ApprovalRequest:
    request = RunRequest(agent="payments", input_text=text, requested_by="U0ASKER")
    start_run(request, runtime.store, None)
    assert runtime.advance(request.thread_id) == "waiting"
    return runtime.store.lists.requests_for_thread(request.thread_id)[0]


def _approved_request(runtime: AgentRuntime, text: str) -> ApprovalRequest:
    approval = _waiting_request(runtime, text)
    return runtime.store.decisions.decide(approval.id, Decision(type=DecisionType.APPROVE, decided_by="U0APPROVER")).approval


def _graph(runtime: AgentRuntime, saver: object) -> object:
    return runtime.registry.get("payments").bind(saver)


def _refunds_run(runtime: AgentRuntime, thread_id: str) -> int:
    with open_checkpointer(runtime.settings) as saver:
        state = _graph(runtime, saver).get_state({"configurable": {"thread_id": thread_id}})
    return sum(1 for m in state.values["messages"] if isinstance(m, ToolMessage) and m.name == "refund")


def test_second_resume_of_a_delivered_decision_does_nothing(runtime: AgentRuntime) -> None:
    approval = _approved_request(runtime, "Refund order #100 for $250")
    assert runtime.resume(approval.id) == "done"

    assert runtime.resume(approval.id) == "already resumed"
    assert _refunds_run(runtime, approval.thread_id) == 1


def test_concurrent_resumes_of_one_thread_run_the_tool_once(runtime: AgentRuntime) -> None:
    approval = _approved_request(runtime, "Refund order #101 for $250")
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def resume() -> None:
        barrier.wait()
        outcomes.append(runtime.resume(approval.id))

    threads = [threading.Thread(target=resume) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("done") == 1
    assert set(outcomes) <= {"done", "busy", "already resumed"}
    assert _refunds_run(runtime, approval.thread_id) == 1


def test_resume_of_an_undecided_request_does_nothing(runtime: AgentRuntime) -> None:
    approval = _waiting_request(runtime, "Refund order #102 for $250")

    assert runtime.resume(approval.id) == "undecided"
    assert runtime.store.requests.get(approval.id).is_pending


def test_decision_for_an_interrupt_answered_elsewhere_resumes_nothing_and_says_so(
    runtime: AgentRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    approval = _approved_request(runtime, "Refund order #103 for $250")
    config = {"configurable": {"thread_id": approval.thread_id}}
    with open_checkpointer(runtime.settings) as saver:
        # Someone answered the interrupt outside Countersign: the decision no longer answers anything.
        answer = {"decisions": [{"type": "reject", "message": "handled by phone"}]}
        _graph(runtime, saver).invoke(Command(resume={langgraph_interrupt_id(approval.interrupt_id): answer}), config)

    with caplog.at_level(logging.WARNING, logger="worker.runtime"):
        outcome = runtime.resume(approval.id)

    assert outcome == "stale"
    assert "stale decision" in caplog.text and approval.id in caplog.text
    assert [e.event for e in runtime.store.audit_log.audit_events(approval.id)][-1] == "stale_resume_skipped"
    assert _refunds_run(runtime, approval.thread_id) == 1  # the rejection's tool message; the refund never ran
    assert runtime.store.requests.get(approval.id).resumed_at is not None  # nothing is owed for it any more
