"""Nothing lost: every run and decision survives killed workers and bots, Redis losing its data, and
Redis going away; and no approved call runs twice (through the real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from datetime import timedelta

import pytest

from approvals.models import ApprovalRequest, Decision, DecisionType, Run
from approvals.runs import RunRequest, start_run
from approvals.store import Store
from bot.decisions import QUEUE_DOWN_NOTE
from bot.ids import ActionId
from tests.conftest import Valkey
from tests.stack import Stack, children_of, is_running, wait_until
from worker.leases import owner_prefix


def test_run_stored_while_the_queue_lost_its_job_is_started_by_the_dispatcher(stack: Stack) -> None:
    request = RunRequest(agent="payments", input_text="Refund order #300 for $250", requested_by="U0ASKER")

    start_run(request, stack.store, queue=None)  # stored in SQL; no job ever reached Redis

    assert stack.wait_for_request(request.thread_id, timeout=15).action.args["order_id"] == "300"


def test_decision_committed_by_a_bot_that_died_before_enqueueing_reaches_the_agent(stack: Stack) -> None:
    approval = stack.start_run("Refund order #301 for $250", agent="payments_effects")

    stack.store.decisions.decide(approval.id, Decision(type=DecisionType.APPROVE, decided_by="U0APPROVER"))

    assert "Refunded $250.00 for order #301" in stack.outcome(approval, timeout=15)
    assert stack.refunds_of("301") == 1


def test_flushall_loses_no_queued_run_and_no_decision(stack: Stack) -> None:
    approval = stack.start_run("Refund order #302 for $250", agent="payments_effects")
    stack.stop_worker()
    assert stack.click("U0APPROVER", ActionId.APPROVE, approval).status == 200
    queued = RunRequest(agent="payments_effects", input_text="Refund order #303 for $250", requested_by="U0ASKER")
    start_run(queued, stack.store, stack.queue)

    stack.queue.connection.flushall()
    stack.start_worker()

    assert "Refunded $250.00 for order #302" in stack.outcome(approval, timeout=15)
    assert stack.refunds_of("302") == 1
    assert stack.wait_for_request(queued.thread_id, timeout=15).action.args["order_id"] == "303"


def test_worker_killed_mid_run_carries_on_after_restart_and_asks_once(stack: Stack) -> None:
    stack.hold("lookup-304")
    request = RunRequest(agent="payments_effects", input_text="Refund order #304 for $250", requested_by="U0ASKER")
    start_run(request, stack.store, stack.queue)
    stack.wait_until_held("lookup-304")

    stack.kill_worker()
    stack.release("lookup-304")
    stack.start_worker()

    approval = stack.wait_for_request(request.thread_id, timeout=20)
    assert len(stack.store.lists.requests_for_thread(request.thread_id)) == 1
    assert stack.message(approval)["blocks"]


def test_worker_stopped_while_an_approved_call_runs_finishes_the_call_then_exits(stack: Stack) -> None:
    approval = stack.start_run("Refund order #360 for $250", agent="payments_effects")
    stack.hold("refund-360")
    stack.click("U0APPROVER", ActionId.APPROVE, approval)
    stack.wait_until_held("refund-360")
    worker = stack.worker
    assert worker is not None

    worker.send_signal(signal.SIGTERM)  # a deploy: RQ's warm shutdown
    with pytest.raises(subprocess.TimeoutExpired):
        worker.wait(timeout=1)  # still inside the approved call
    stack.release("refund-360")
    worker.wait(timeout=10)  # the call done, it exits

    stack.worker = None
    stack.start_worker()
    assert "Refunded $250.00 for order #360" in stack.outcome(approval, timeout=20)
    assert stack.refunds_of("360") == 1


def test_job_process_killed_alone_is_taken_up_again_without_waiting_out_its_lease(stack: Stack) -> None:
    stack.hold("lookup-306")
    request = RunRequest(agent="payments_effects", input_text="Refund order #306 for $250", requested_by="U0ASKER")
    start_run(request, stack.store, stack.queue)
    stack.wait_until_held("lookup-306")

    pid = stack.kill_job_process()
    stack.release("lookup-306")

    approval = stack.wait_for_request(request.thread_id, timeout=15)
    assert len(stack.store.lists.requests_for_thread(approval.thread_id)) == 1
    # The worker saw its job process die and let go of the run at once.
    assert f"job process {pid} died (exit code -9) working on run {request.thread_id}; it is taken up again" in stack.log(
        "worker"
    )


def test_a_dead_job_process_gives_back_only_its_own_leases(empty_store: Store) -> None:
    dead, same_pid_elsewhere, lookalike = (
        empty_store.runs.create_run(Run(thread_id=uuid.uuid4().hex, agent="payments", input_text="x")) for _ in range(3)
    )
    # Pods of one deployment share a host name prefix and small pids: the job process's tag tells them apart.
    empty_store.runs.claim(dead.thread_id, owner_prefix(9, "1f3a_9c2e0b7d") + "aaaa", timedelta(minutes=5))
    empty_store.runs.claim(same_pid_elsewhere.thread_id, owner_prefix(9, "77c0e1d2a9b4") + "bbbb", timedelta(minutes=5))
    empty_store.runs.claim(
        lookalike.thread_id, owner_prefix(9, "1f3ax9c2e0b7d") + "cccc", timedelta(minutes=5)
    )  # "_" is no wildcard

    assert empty_store.runs.release_held_by(owner_prefix(9, "1f3a_9c2e0b7d")) == [dead.thread_id]
    assert empty_store.runs.claim(dead.thread_id, "another:1:t:dddd", timedelta(minutes=5)) is not None
    assert empty_store.runs.claim(same_pid_elsewhere.thread_id, "another:1:t:dddd", timedelta(minutes=5)) is None
    assert empty_store.runs.claim(lookalike.thread_id, "another:1:t:dddd", timedelta(minutes=5)) is None


def test_worker_killed_alone_leaves_no_job_process_working_without_it(stack: Stack) -> None:
    assert stack.worker is not None
    job_processes = children_of(stack.worker.pid)
    assert job_processes

    os.kill(stack.worker.pid, signal.SIGKILL)  # the parent only, as the OOM killer would
    stack.worker.wait()
    stack.worker = None

    wait_until(lambda: not [pid for pid in job_processes if is_running(pid)], 10, "the job processes to stop")
    stack.start_worker()


def test_bot_killed_right_after_acking_a_click_loses_no_decision(stack: Stack) -> None:
    approval = stack.start_run("Refund order #307 for $250", agent="payments_effects")
    stack.stop_worker()  # so the click's outcome can only come from what the bot committed

    response = stack.click("U0APPROVER", ActionId.APPROVE, approval)
    stack.kill_bot()
    stack.start_worker()

    assert response.status == 200
    assert "Refunded $250.00 for order #307" in stack.outcome(approval, timeout=15)
    assert stack.refunds_of("307") == 1
    # The worker re-renders the message from SQL, whatever the bot managed before it died.
    stack.wait_for_update(approval, lambda call: "Approved* by <@U0APPROVER>" in str(call.params["blocks"]))
    stack.start_bot()


def _approve_while_the_queue_is_out(stack: Stack, approval: ApprovalRequest, user: str) -> None:
    """Click Approve while the queue cannot take the resume: acked, recorded, the clicker told so, and the
    message shows the decision."""
    response = stack.click(user, ActionId.APPROVE, approval)

    assert response.status == 200
    assert stack.ephemeral_to(user) == [QUEUE_DOWN_NOTE]
    stack.wait_for_update(approval, lambda call: f"Approved* by <@{user}>" in str(call.params["blocks"]))
    assert not stack.store.requests.get(approval.id).is_pending


def test_click_while_valkey_is_down_is_recorded_told_truthfully_and_resumed_when_it_is_back(
    stack: Stack, valkey_server: Valkey
) -> None:
    approval = stack.start_run("Refund order #308 for $250", agent="payments_effects")
    valkey_server.stop()
    try:
        _approve_while_the_queue_is_out(stack, approval, "U0VALKEYDOWN")
    finally:
        valkey_server.start()

    assert "Refunded $250.00 for order #308" in stack.outcome(approval, timeout=15)
    assert stack.refunds_of("308") == 1
    wait_until(lambda: stack.queue.known_agents(), 10, "the dispatcher to publish the agents again")
    # The same worker process works on: a new run after the outage is taken up too.
    assert stack.worker is not None and stack.worker.poll() is None
    assert stack.start_run("Refund order #309 for $250").action.args["order_id"] == "309"


def test_click_while_valkey_hangs_is_recorded_told_truthfully_and_resumed_once_it_answers(
    stack: Stack, valkey_server: Valkey
) -> None:
    approval = stack.start_run("Refund order #310 for $250", agent="payments_effects")
    valkey_server.pause()  # connections are accepted, nothing is answered
    try:
        _approve_while_the_queue_is_out(stack, approval, "U0VALKEYHUNG")
    finally:
        valkey_server.unpause()

    assert "Refunded $250.00 for order #310" in stack.outcome(approval, timeout=15)
    assert stack.refunds_of("310") == 1
