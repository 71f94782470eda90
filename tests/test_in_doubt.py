"""A call cut off mid-way goes back to a person: a worker killed while an approved tool runs leaves the call in
doubt, and the run's thread gets a request of its own (Run it again / Don't) under the call's rule; the call does
not run again, and the agent does not go past its step, until someone answers. Every call carries a stable
idempotency key; tools declared idempotent run again unasked. (Through the real processes: the worker is
SIGKILLed while the tool is held mid-way.)"""

from __future__ import annotations

from sqlalchemy import select

from approvals.models import IN_DOUBT_KIND, ApprovalRequest, Decision, DecisionType, Gate, RunStatus
from approvals.runs import RunRequest, start_run
from approvals.tables import tool_calls
from bot.ids import ActionId
from tests.local import Local
from tests.stack import Stack, wait_until
from worker import in_doubt
from worker.tool_journal import _Call, journalling, uncertain_text


def _cut_off(stack: Stack, order: str, agent: str = "payments_effects", amount: int = 250) -> ApprovalRequest:
    """Approve a refund, kill the worker while the refund runs, and start another: returns the approved request."""
    stack.hold(f"refund-{order}")
    approval = stack.start_run(f"Refund order #{order} for ${amount}", agent=agent)
    if stack.store.requests.get(approval.id).is_pending:  # (under a soft rule its deadline may have approved it)
        stack.click("U0APPROVER", ActionId.APPROVE, approval)
    stack.wait_until_held(f"refund-{order}")
    stack.kill_worker()
    stack.release(f"refund-{order}")
    stack.start_worker()
    return approval


def _keys_of(stack: Stack, order: str) -> list[str]:
    return [line.partition("=")[2] for line in stack.effects_of("refund-keys") if line.partition("=")[0] == order]


def _finished(stack: Stack, thread_id: str, call_id: str) -> bool:
    """Whether the journal has the call as finished (its tool returned), not only started."""
    query = select(tool_calls.c.finished_at).where(tool_calls.c.thread_id == thread_id, tool_calls.c.tool_call_id == call_id)
    with stack.store.db.engine.connect() as conn:
        return conn.execute(query).scalar() is not None


def _audited(stack: Stack, event: str, approval_id: str | None = None) -> list[dict]:
    return [e.detail for e in stack.store.audit_log.audit_events(approval_id) if e.event == event]


def test_a_call_cut_off_mid_way_is_put_back_to_a_person_in_the_requests_thread(stack: Stack) -> None:
    approval = _cut_off(stack, "2901")

    doubt = stack.wait_for_request(approval.thread_id, count=2, timeout=20)
    assert doubt.kind == IN_DOUBT_KIND and doubt.action.tool == "refund" and doubt.action.args["order_id"] == "2901"
    message = stack.message(doubt)
    assert "The worker stopped while `refund` ran; it may or may not have taken effect" in message["text"]
    buttons = [e["text"]["text"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"] if "text" in e]
    assert buttons[:2] == ["Run it again", "Don't"]
    thread = stack.thread_of(approval)
    assert thread is not None
    posts = stack.slack.calls_to("chat.postMessage")
    assert any(c.params.get("thread_ts") == thread.ts and "Run it again" in str(c.params) for c in posts)
    wait_until(lambda: stack.store.runs.get_run(approval.thread_id).status is RunStatus.WAITING, 10, "the run to wait")
    assert stack.refunds_of("2901") == 1  # nothing ran while nobody answered
    assert _audited(stack, "tool_call_in_doubt", doubt.id)[0]["args"]["order_id"] == "2901"


def test_run_it_again_runs_the_tool_once_more_with_the_same_idempotency_key(stack: Stack) -> None:
    approval = _cut_off(stack, "2902")
    doubt = stack.wait_for_request(approval.thread_id, count=2, timeout=20)

    stack.click("U0APPROVER", ActionId.APPROVE, doubt)

    assert "Refunded $250.00 for order #2902" in stack.outcome(approval, timeout=20)
    assert stack.refunds_of("2902") == 2
    first, again = _keys_of(stack, "2902")
    assert first == again and first.startswith("cs-")
    (rerun,) = _audited(stack, "tool_call_rerun", doubt.id)
    assert rerun["tool"] == "refund" and rerun["decided_by"] == "U0APPROVER"


def test_a_worker_dying_again_during_the_re_run_asks_again(stack: Stack) -> None:
    stack.hold("refund-2907")
    approval = stack.start_run("Refund order #2907 for $250", agent="payments_effects")
    stack.click("U0APPROVER", ActionId.APPROVE, approval)
    stack.wait_until_held("refund-2907")
    stack.kill_worker()
    (stack.effects / "holding-refund-2907").unlink()
    stack.start_worker()
    first = stack.wait_for_request(approval.thread_id, count=2, timeout=20)
    stack.click("U0APPROVER", ActionId.APPROVE, first)
    stack.wait_until_held("refund-2907")  # the re-run, held in turn
    stack.kill_worker()
    stack.release("refund-2907")
    stack.start_worker()

    again = stack.wait_for_request(approval.thread_id, count=3, timeout=20)

    assert again.kind == IN_DOUBT_KIND and again.id != first.id and again.is_pending
    assert stack.refunds_of("2907") == 2
    stack.answer("U0APPROVER", ActionId.REJECT, again, "Twice is enough")
    assert "cannot tell whether it took effect" in stack.outcome(approval, timeout=20)
    assert stack.refunds_of("2907") == 2


def test_a_call_of_an_async_tool_cut_off_mid_way_is_put_back_and_run_again_with_its_key(stack: Stack) -> None:
    approval = _cut_off(stack, "2908", agent="payments_async")
    doubt = stack.wait_for_request(approval.thread_id, count=2, timeout=20)
    assert doubt.kind == IN_DOUBT_KIND and stack.refunds_of("2908") == 1

    stack.click("U0APPROVER", ActionId.APPROVE, doubt)

    assert "Refunded $250.00 for order #2908" in stack.outcome(approval, timeout=20)
    first, again = _keys_of(stack, "2908")
    assert first == again and first.startswith("cs-")


def test_dont_tells_the_agent_the_call_was_not_run_again(stack: Stack) -> None:
    approval = _cut_off(stack, "2903")
    doubt = stack.wait_for_request(approval.thread_id, count=2, timeout=20)

    stack.answer("U0APPROVER", ActionId.REJECT, doubt, "It went through: the bank shows it")

    outcome = stack.outcome(approval, timeout=20)
    assert "I did not refund order #2903" in outcome and "cannot tell whether it took effect" in outcome
    assert stack.refunds_of("2903") == 1
    assert _audited(stack, "tool_call_not_rerun", doubt.id)[0]["decided_by"] == "U0APPROVER"


def test_nobody_answering_by_the_deadline_means_dont_even_where_the_rule_goes_ahead_at_its_deadline(stack: Stack) -> None:
    # Rule "soft go-ahead" (tests/policies.yml, refunds of $12): a soft level, approved at its 2 s deadline.
    approval = _cut_off(stack, "2905", amount=12)
    doubt = stack.wait_for_request(approval.thread_id, count=2, timeout=20)
    assert doubt.gate.rule == "soft go-ahead" and doubt.action.gate is not None

    outcome = stack.outcome(approval, timeout=20)

    assert "cannot tell whether it took effect" in outcome
    assert stack.store.requests.get(doubt.id).status == "expired"
    assert stack.refunds_of("2905") == 1


def test_a_call_its_rule_let_go_ahead_unasked_is_still_put_to_a_person_when_cut_off(stack: Stack) -> None:
    # Rule "tiny refunds" (tests/policies.yml, refunds of $1 or less): level auto, nobody asked before the call.
    stack.hold("refund-2906")
    request = RunRequest(agent="payments_effects", input_text="Refund order #2906 for $1", requested_by="U0ASKER")
    start_run(request, stack.store, stack.queue)
    stack.wait_until_held("refund-2906")
    stack.kill_worker()
    stack.release("refund-2906")
    stack.start_worker()

    doubt = stack.wait_for_request(request.thread_id, count=2, timeout=20)

    assert doubt.kind == IN_DOUBT_KIND and doubt.gate.rule == "tiny refunds" and doubt.is_pending
    assert stack.refunds_of("2906") == 1
    stack.click("U0APPROVER", ActionId.APPROVE, doubt)
    assert "Refunded $1.00 for order #2906" in stack.outcome(doubt, timeout=20)
    assert stack.refunds_of("2906") == 2


def test_a_tool_declared_idempotent_is_run_again_without_asking(stack: Stack) -> None:
    approval = _cut_off(stack, "2904", agent="payments_idempotent")

    assert "Refunded $250.00 for order #2904" in stack.outcome(approval, timeout=20)
    assert stack.refunds_of("2904") == 2
    first, again = _keys_of(stack, "2904")
    assert first == again
    assert len(stack.store.lists.requests_for_thread(approval.thread_id)) == 1  # nobody was asked
    reruns = [d for d in _audited(stack, "tool_call_rerun") if d.get("thread_id") == approval.thread_id]
    assert [(d["tool"], d["idempotent"]) for d in reruns] == [("refund", True)]


def test_a_tool_run_outside_a_countersign_worker_has_no_idempotency_key() -> None:
    from countersign.agents import idempotency_key

    assert idempotency_key({"configurable": {"thread_id": "t"}}) is None
    assert idempotency_key(None) is None
    assert idempotency_key({"configurable": {"countersign_idempotency_key": "cs-1"}}) == "cs-1"


def test_a_call_approved_beside_one_cut_off_ran_once_and_the_agent_goes_on_only_once_someone_answers(stack: Stack) -> None:
    stack.hold("refund-2911")
    approval = stack.start_run("Refund orders #2911 and #2912 for $40", agent="batch_effects")
    stack.click("U0APPROVER", ActionId.APPROVE_ALL, approval)
    stack.wait_until_held("refund-2911")
    wait_until(lambda: _finished(stack, approval.thread_id, "call_2912"), 10, "the refund approved beside it to finish")
    stack.kill_worker()
    stack.release("refund-2911")
    stack.start_worker()

    doubt = stack.wait_for_request(approval.thread_id, count=2, timeout=20)
    assert doubt.kind == IN_DOUBT_KIND and [a.args["order_id"] for a in doubt.actions] == ["2911"]
    wait_until(lambda: stack.store.runs.get_run(approval.thread_id).status is RunStatus.WAITING, 10, "the run to wait")
    assert (stack.refunds_of("2911"), stack.refunds_of("2912")) == (1, 1)
    assert stack.store.runs.get_run(approval.thread_id).outcome is None  # the agent has not gone on

    stack.answer("U0APPROVER", ActionId.REJECT, doubt, "It went through: the bank shows it")

    outcome = stack.outcome(approval, timeout=20)
    assert "Refunded $40.00 for order #2912" in outcome and "cannot tell whether it took effect" in outcome
    assert (stack.refunds_of("2911"), stack.refunds_of("2912")) == (1, 1)


def test_two_calls_cut_off_together_are_each_put_to_a_person_and_neither_runs_again_unasked(stack: Stack) -> None:
    stack.hold("refund-2913")
    stack.hold("refund-2914")
    approval = stack.start_run("Refund orders #2913 and #2914 for $40", agent="batch_effects")
    stack.click("U0APPROVER", ActionId.APPROVE_ALL, approval)
    stack.wait_until_held("refund-2913")
    stack.wait_until_held("refund-2914")
    stack.kill_worker()
    stack.release("refund-2913")
    stack.release("refund-2914")
    stack.start_worker()

    first = stack.wait_for_request(approval.thread_id, count=2, timeout=20)
    stack.answer("U0APPROVER", ActionId.REJECT, first, "It went through: the bank shows it")
    second = stack.wait_for_request(approval.thread_id, count=3, timeout=20)
    assert {first.action.args["order_id"], second.action.args["order_id"]} == {"2913", "2914"}
    assert (stack.refunds_of("2913"), stack.refunds_of("2914")) == (1, 1)
    stack.click("U0APPROVER", ActionId.APPROVE, second)

    outcome = stack.outcome(approval, timeout=20)
    assert "cannot tell whether it took effect" in outcome and "Refunded $40.00" in outcome
    assert sorted([stack.refunds_of("2913"), stack.refunds_of("2914")]) == [1, 2]


def test_a_dont_acted_on_is_replayed_when_the_calls_task_runs_again_not_asked_about_again(local: Local) -> None:
    # A step's writes can be lost when another call of the step is cut off: its task then runs once more.
    run = local.start_run("Refund order #2930 for $250")
    call = {"name": "refund", "id": "call-2930", "args": {"order_id": "2930", "amount": 250.0}}
    key = (run.thread_id, "tools:2930", call["id"])
    local.store.journal.tool_call_started(*key, tool="refund")  # as the worker that died while it ran
    doubt = in_doubt.CallInDoubt(key, "refund", call["args"], attempt=1)
    in_doubt.ask(local.store, doubt, lambda *_: Gate(), lambda _request: None)
    asked = local.store.lists.requests_for_thread(run.thread_id)[-1]
    with local.paused():  # the answer is acted on here, not by the in-process worker's resume
        local.store.decisions.decide(asked.id, Decision(type=DecisionType.REJECT, decided_by="U0APPROVER"))
        with journalling(local.store, run.thread_id) as scope:
            told = [_Call(scope, call, {"configurable": {"checkpoint_ns": key[1]}}).before() for _ in range(2)]

    assert [m.content for m in told if m is not None] == [uncertain_text("refund")] * 2
    assert [r.kind for r in local.store.lists.requests_for_thread(run.thread_id)].count(IN_DOUBT_KIND) == 1
