"""Resumes of one thread never overlap, and a stale decision resumes nothing (the worker's runtime, in-process)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from langchain_core.messages import ToolMessage

from approvals.models import ApprovalRequest, Decision, DecisionType
from approvals.settings import Settings
from countersign.job_queue import RunRequest
from worker.checkpointer import open_checkpointer
from worker.main import build_runtime
from worker.runtime import AgentRuntime


@pytest.fixture(scope="module")
def runtime(settings: Settings) -> Iterator[AgentRuntime]:
    yield build_runtime(settings)


def _approved_request(runtime: AgentRuntime, text: str) -> ApprovalRequest:
    request = RunRequest(agent="payments", input_text=text, requested_by="U0ASKER")
    assert runtime.start(request) == "waiting"
    approval = runtime.store.requests_for_thread(request.thread_id)[0]
    return runtime.store.decide(approval.id, Decision(type=DecisionType.APPROVE, decided_by="U0APPROVER")).approval


def _refunds_run(runtime: AgentRuntime, thread_id: str) -> int:
    with open_checkpointer(runtime.settings) as saver:
        state = runtime.registry.get("payments").bind(saver).get_state({"configurable": {"thread_id": thread_id}})
    return sum(1 for m in state.values["messages"] if isinstance(m, ToolMessage) and m.name == "refund")


def test_second_resume_of_the_same_decision_resumes_nothing_and_says_so(
    runtime: AgentRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    approval = _approved_request(runtime, "Refund order #100 for $250")
    assert runtime.resume(approval.id) == "done"

    with caplog.at_level(logging.WARNING, logger="worker.runtime"):
        outcome = runtime.resume(approval.id)

    assert outcome == "stale"
    assert "stale decision" in caplog.text and approval.id in caplog.text
    assert [e.event for e in runtime.store.audit_events(approval.id)][-1] == "stale_resume_skipped"
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

    assert sorted(outcomes) == ["done", "stale", "stale"]
    assert _refunds_run(runtime, approval.thread_id) == 1


def test_resume_of_an_undecided_request_does_nothing(runtime: AgentRuntime) -> None:
    request = RunRequest(agent="payments", input_text="Refund order #102 for $250")
    runtime.start(request)
    approval = runtime.store.requests_for_thread(request.thread_id)[0]

    assert runtime.resume(approval.id) == "undecided"
    assert runtime.store.get(approval.id).is_pending
