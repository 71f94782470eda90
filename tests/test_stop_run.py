"""Stopping a run: its requester or an admin stops it from its thread (the progress message's Stop button) or with
`/countersign stop <run>`, after confirming; its pending requests are withdrawn, nothing after its pause runs, the
agent is not resumed, and the audit log says who did it and why."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from approvals.models import (
    ApprovalRequest,
    Decision,
    DecisionType,
    NewApprovalRequest,
    ProposedAction,
    Run,
    RunStatus,
    Status,
)
from approvals.policies import Rule
from approvals.runs import RunRequest, start_run
from approvals.tables import runs
from bot.ids import ActionId, BlockId, CallbackId
from bot.request_message import decision_line, request_message
from bot.run_messages import progress_blocks
from bot.slack_places import SlackPlaces
from bot.stop_modal import stop_modal
from sandbox.driver import Response, plain_text_value
from tests.local import Local
from tests.policies import TINY_REFUNDS
from tests.stack import wait_until
from tests.test_block_kit import valid_message, valid_modal


def _progress_message(local: Local, approval: ApprovalRequest) -> dict[str, Any]:
    thread = local.thread_of(approval)
    assert thread is not None
    ts = wait_until(lambda: SlackPlaces(local.store).progress(approval.thread_id), 10, "the progress message")
    return local.slack.message(thread.channel, ts)


def _click_stop(local: Local, user: str, approval: ApprovalRequest) -> Response:
    message = _progress_message(local, approval)
    thread = local.thread_of(approval)
    assert thread is not None
    return local.driver.block_action(user, ActionId.STOP_RUN, approval.thread_id, channel_id=thread.channel, message=message)


def _confirm(local: Local, user: str, trigger_id: str, reason: str = "") -> Response:
    opened = local.slack.wait_for("views.open", lambda call: call.params.get("trigger_id") == trigger_id)
    assert opened.params["view"]["callback_id"] == CallbackId.STOP_MODAL
    values = {BlockId.STOP_REASON: {ActionId.STOP_REASON: plain_text_value(reason or None)}}
    return local.driver.view_submission(user, opened.response["view"], values)


def _stop_by_command(local: Local, user: str, run: str, reason: str = "") -> Response:
    response = local.driver.slash_command(user, "/countersign", f"stop {run}", response_url=local.slack.response_url())
    assert response.status == 200 and not response.body, response.body  # the answer is the confirmation modal
    assert response.payload is not None
    return _confirm(local, user, response.payload["trigger_id"], reason)


def _in_thread(local: Local, approval: ApprovalRequest, call: Any, start: str) -> bool:
    thread = local.thread_of(approval)
    return bool(thread) and call.params.get("thread_ts") == thread.ts and str(call.params.get("text", "")).startswith(start)


def test_the_progress_message_shows_the_run_id_and_a_stop_button(local: Local) -> None:
    approval = local.start_run("Refund order #801 for $250")

    message = _progress_message(local, approval)

    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["text"]["text"]) for b in buttons] == [(ActionId.STOP_RUN, "Stop run")]
    assert f"run `{approval.thread_id}`" in str(message["blocks"])


def test_the_requester_stops_a_run_from_its_progress_message(local: Local) -> None:
    approval = local.start_run("Refund order #802 for $250", user="U0STOP1")

    clicked = _click_stop(local, "U0STOP1", approval)
    assert clicked.payload is not None
    submitted = _confirm(local, "U0STOP1", clicked.payload["trigger_id"], "Wrong customer")

    assert submitted.status == 200 and not submitted.body  # the modal closes
    ended = local.slack.wait_for("chat.postMessage", lambda c: _in_thread(local, approval, c, ":octagonal_sign: Stopped by"))
    assert ended.params["text"].startswith(":octagonal_sign: Stopped by <@U0STOP1>: Wrong customer")
    stopped = local.store.runs.get_run(approval.thread_id)
    assert stopped.status is RunStatus.DONE and stopped.ending is not None and stopped.ending.kind == "halted"
    assert (stopped.stop_requested_by, stopped.stop_reason) == ("U0STOP1", "Wrong customer")


def test_a_stopped_runs_pending_request_is_withdrawn_and_says_so(local: Local) -> None:
    approval = local.start_run("Refund order #803 for $250", user="U0STOP2")

    _stop_by_command(local, "U0STOP2", approval.thread_id, "Duplicate ticket")

    update = local.wait_for_update(approval, lambda call: "Withdrawn" in str(call.params.get("blocks")))
    blocks = str(update.params["blocks"])
    assert "*Withdrawn*: <@U0STOP2> stopped the run" in blocks and "Duplicate ticket" in blocks
    assert not [b for b in update.params["blocks"] if b["type"] == "actions"]
    assert local.store.requests.get(approval.id).status is Status.WITHDRAWN


def test_the_stopped_runs_tool_never_runs_and_its_agent_is_not_resumed(local: Local) -> None:
    approval = local.start_run("Refund order #804 for $250", user="U0STOP3", agent="payments_effects")

    _stop_by_command(local, "U0STOP3", approval.thread_id)
    local.slack.wait_for("chat.postMessage", lambda c: _in_thread(local, approval, c, ":octagonal_sign: Stopped by"))
    local.work()

    assert local.refunds_of("804") == 0
    assert local.store.due.resumes_owed(local.clock()) == []
    assert local.store.requests.get(approval.id).resumed_at is None


def test_an_admin_stops_someone_elses_run_with_the_slash_command(local: Local) -> None:
    approval = local.start_run("Refund order #805 for $250", user="U0STOP4")

    _stop_by_command(local, "U0ADMIN", approval.thread_id)

    ended = local.slack.wait_for("chat.postMessage", lambda c: _in_thread(local, approval, c, ":octagonal_sign: Stopped by"))
    assert ended.params["text"].startswith(":octagonal_sign: Stopped by <@U0ADMIN>.")


def test_the_command_accepts_a_request_id_for_its_run(local: Local) -> None:
    approval = local.start_run("Refund order #806 for $250", user="U0STOP5")

    _stop_by_command(local, "U0STOP5", approval.id)

    assert local.store.runs.get_run(approval.thread_id).stop_requested_by == "U0STOP5"


def test_someone_else_may_not_stop_a_run_and_nothing_changes(local: Local) -> None:
    approval = local.start_run("Refund order #807 for $250", user="U0STOP6")

    answer = local.slash("U0STOP7", f"stop {approval.thread_id}")

    assert answer == (
        f"Nothing changed: only the person who asked for it and Countersign's admins may stop run `{approval.thread_id}`."
    )
    assert local.store.requests.get(approval.id).is_pending
    assert local.store.runs.get_run(approval.thread_id).stop_requested_at is None


def test_someone_else_clicking_stop_is_told_why_not(local: Local) -> None:
    approval = local.start_run("Refund order #808 for $250", user="U0STOP8")

    _click_stop(local, "U0STOP9", approval)

    assert local.ephemeral_to("U0STOP9") == [
        f"Nothing changed: only the person who asked for it and Countersign's admins may stop run `{approval.thread_id}`."
    ]
    assert local.store.requests.get(approval.id).is_pending


def test_a_finished_run_cannot_be_stopped(local: Local) -> None:
    approval = local.start_run("Refund order #809 for $250", user="U0STOPA")
    local.click("U0APPROVER", ActionId.APPROVE, approval)
    local.outcome(approval)

    answer = local.slash("U0STOPA", f"stop {approval.thread_id}")

    assert answer == f"Nothing changed: run `{approval.thread_id}` has already ended (it finished), so there is nothing to stop."
    assert local.store.runs.get_run(approval.thread_id).ending.kind == "answered"  # type: ignore[union-attr]


def test_an_unknown_run_is_named_in_the_refusal(local: Local) -> None:
    assert local.slash("U0STOPB", "stop nope-123") == (
        "Nothing changed: there is no run `nope-123` (a run's id is on its progress message and its requests)."
    )


def test_a_click_on_a_withdrawn_requests_buttons_decides_nothing(local: Local) -> None:
    approval = local.start_run("Refund order #810 for $250", user="U0STOPC", agent="payments_effects")
    _stop_by_command(local, "U0STOPC", approval.thread_id, "Fraud")

    local.click("U0STOPD", ActionId.APPROVE, approval)

    (told,) = local.ephemeral_to("U0STOPD")
    assert told.startswith("Nothing changed: :octagonal_sign: *Withdrawn*: <@U0STOPC> stopped the run")
    local.work()
    assert local.refunds_of("810") == 0 and local.store.requests.get(approval.id).status is Status.WITHDRAWN


def test_a_decision_recorded_just_before_the_stop_is_not_handed_to_the_agent(local: Local) -> None:
    approval = local.start_run("Refund order #811 for $250", user="U0STOPE", agent="payments_effects")
    # Approved, its resume owed but not yet delivered: the run's lease is held elsewhere, as by a worker about to
    # take it, so the test's own worker cannot deliver it first...
    assert local.store.runs.claim(approval.thread_id, "test-holder", timedelta(minutes=1)) is not None
    local.store.decisions.decide(approval.id, Decision(type=DecisionType.APPROVE, decided_by="U0APPROVER"))

    # ...when the requester stops the run: nothing of it runs after.
    _stop_by_command(local, "U0STOPE", approval.thread_id)
    local.store.runs.release(approval.thread_id, "test-holder")
    local.work()
    local.runtime.resume(approval.id)  # (or the in-process worker's thread does, and this finds the run leased)

    ending = wait_until(lambda: local.store.runs.get_run(approval.thread_id).ending, 10, "the run's ending")
    assert ending.kind == "halted"
    assert local.refunds_of("811") == 0


def _stopped_while_looking_up(local: Local, order: str, agent: str) -> str:
    """Start a run, stop it (by command) while its lookup tool runs, then let the lookup finish; the run's thread id
    once its worker let go of it."""
    (local.effects / f"hold-lookup-{order}").touch()
    request = RunRequest(agent=agent, input_text=f"Refund order #{order} for $1", requested_by="U0STOPF")
    start_run(request, local.store, None)
    wait_until(lambda: (local.effects / f"holding-lookup-{order}").exists(), 10, "the lookup to start")

    _stop_by_command(local, "U0STOPF", request.thread_id, "Not this one")
    (local.effects / f"release-lookup-{order}").touch()

    def let_go() -> bool:
        with local.store.db.engine.connect() as conn:
            return conn.execute(select(runs.c.lease_owner).where(runs.c.thread_id == request.thread_id)).scalar() is None

    wait_until(let_go, 10, "the worker to let the run go")
    return request.thread_id


def test_a_run_stopped_while_it_works_makes_no_further_tool_call(local: Local) -> None:
    thread_id = _stopped_while_looking_up(local, "812", "payments_ungated")

    assert local.refunds_of("812") == 0  # proposed after the stop, never started
    assert local.store.runs.get_run(thread_id).ending.kind == "halted"  # type: ignore[union-attr]


def test_a_run_stopped_while_it_works_asks_nobody_about_its_next_call(local: Local) -> None:
    local.policies(TINY_REFUNDS)  # the refund would go ahead without a human
    thread_id = _stopped_while_looking_up(local, "814", "payments_effects")

    assert local.refunds_of("814") == 0
    assert local.store.lists.requests_for_thread(thread_id) == []
    assert local.store.runs.get_run(thread_id).status is RunStatus.DONE


def test_stopping_leaves_audit_rows_naming_who_and_why(local: Local) -> None:
    approval = local.start_run("Refund order #813 for $250", user="U0STOPG")

    _stop_by_command(local, "U0STOPG", approval.thread_id, "Customer withdrew")

    stopped = [e for e in local.store.audit_log.audit_events() if e.event == "run_stopped"]
    mine = [e for e in stopped if e.detail.get("thread_id") == approval.thread_id]
    assert [(e.actor, e.detail["reason"]) for e in mine] == [("U0STOPG", "Customer withdrew")]
    withdrawn = [e for e in local.store.audit_log.audit_events(approval.id) if e.event == "withdrawn"]
    assert [(e.actor, e.detail["reason"]) for e in withdrawn] == [("U0STOPG", "Customer withdrew")]


def test_a_run_asked_over_the_approval_api_is_not_stopped_here(local: Local) -> None:
    asked = Run(thread_id=f"api-{uuid.uuid4().hex[:12]}", agent="payments", input_text="refund", requested_by="U0STOPH")
    local.store.runs.create_run(asked)

    answer = local.slash("U0STOPH", f"stop {asked.thread_id}")

    assert answer == (
        f"Nothing changed: run `{asked.thread_id}` was asked over the approval API, so its caller decides what runs: "
        "reject its request instead."
    )
    assert local.store.runs.get_run(asked.thread_id).stop_requested_at is None


def test_the_stop_modal_and_the_progress_message_are_valid_block_kit() -> None:
    run = Run(thread_id="thr_1", agent="payments", input_text="x", requested_by="U0X", status=RunStatus.WAITING)
    view = valid_modal(stop_modal(run, pending=2))
    assert "its 2 pending requests are withdrawn" in str(view["blocks"])
    blocks = valid_message({"blocks": progress_blocks(run, "steps"), "text": "steps"})
    assert [b["type"] for b in blocks] == ["section", "context", "actions"]
    ended = run.model_copy(update={"status": RunStatus.DONE})
    assert [b["type"] for b in progress_blocks(ended, "steps")] == ["section", "context"]  # no Stop button once ended


def test_a_withdrawn_requests_message_keeps_what_was_decided_and_says_the_rest_was_withdrawn() -> None:
    run = Run(thread_id="thr_2", agent="payments", input_text="x", requested_by="U0X", stop_requested_by="U0X")
    approve = Decision(type=DecisionType.APPROVE, decided_by="U0APPROVER")
    request = ApprovalRequest(
        id="apr_2",
        thread_id="thr_2",
        interrupt_id="i",
        kind="langchain_hitl",
        actions=[ProposedAction(tool="refund", args={"n": 1}, decision=approve), ProposedAction(tool="refund", args={"n": 2})],
        run=run,
        status=Status.WITHDRAWN,
    )

    blocks = valid_message(request_message(request))

    sections = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    lines = [text for text in sections if text.startswith((":white_check_mark:", ":octagonal_sign:"))]
    assert lines[0].startswith(":white_check_mark: *Approved* by <@U0APPROVER>")
    assert lines[1] == ":octagonal_sign: *Withdrawn*: <@U0X> stopped the run."
    assert not [b for b in blocks if b["type"] == "actions"]
    assert decision_line(request).splitlines()[1] == "`refund`: :octagonal_sign: *Withdrawn*: <@U0X> stopped the run."


@pytest.mark.parametrize("stopped", ["before it is stored", "after it is stored"])
def test_a_request_stored_as_its_run_was_stopped_is_withdrawn_too(
    local: Local, monkeypatch: pytest.MonkeyPatch, stopped: str
) -> None:
    create_request = local.store.requests.create_request

    def stopped_meanwhile(new: NewApprovalRequest) -> ApprovalRequest:
        # The stop commits after the worker's last look at the run, as it stores and shows its next request.
        if stopped == "before it is stored":
            local.store.runs.stop(new.thread_id, "U0STOPI", "Raced", timedelta(0))
        stored = create_request(new)
        if stopped == "after it is stored":
            local.store.runs.stop(new.thread_id, "U0STOPI", "Raced", timedelta(0))
        return stored

    monkeypatch.setattr(local.store.requests, "create_request", stopped_meanwhile)
    order = "815" if stopped == "before it is stored" else "816"
    request = RunRequest(agent="payments", input_text=f"Refund order #{order} for $250", requested_by="U0STOPI")
    start_run(request, local.store, None)
    local.work()  # (or the in-process worker's thread does, and this finds the run leased)

    withdrawn = wait_until(
        lambda: next((r for r in local.store.lists.requests_for_thread(request.thread_id) if r.status is Status.WITHDRAWN), None),
        10,
        "the request withdrawn",
    )
    assert len(local.store.lists.requests_for_thread(request.thread_id)) == 1
    update = local.wait_for_update(withdrawn, lambda call: "Withdrawn" in str(call.params.get("blocks")))
    assert "<@U0STOPI> stopped the run" in str(update.params["blocks"])
    assert [e.actor for e in local.store.audit_log.audit_events(withdrawn.id) if e.event == "withdrawn"] == ["U0STOPI"]


def test_a_run_stopped_while_it_waits_keeps_its_progress_but_loses_its_stop_button(local: Local) -> None:
    approval = local.start_run("Refund order #880 for $250", user="U0STOP9")
    before = _progress_message(local, approval)

    _stop_by_command(local, "U0STOP9", approval.thread_id)

    thread = local.thread_of(approval)
    assert thread is not None
    ts = SlackPlaces(local.store).progress(approval.thread_id)
    update = local.slack.wait_for("chat.update", lambda call: call.params.get("ts") == ts)
    assert not [b for b in update.params["blocks"] if b["type"] == "actions"]
    assert update.params["blocks"][0] == before["blocks"][0]  # the same steps
    assert f"run `{approval.thread_id}`" in str(update.params["blocks"])


def test_a_stop_its_stopper_could_not_draw_is_drawn_by_a_worker_without_the_stop_button(local: Local) -> None:
    local.policies(Rule(name="refunds stopped in their own channel", agent="payments", tool="refund", channel="C0STOPDOWN"))
    approval = local.start_run("Refund order #882 for $250", user="U0STOP10")
    before = _progress_message(local, approval)
    # The withdrawn request's redraw and the progress message's, the two updates the stop makes there.
    local.slack.fail("chat.update", "internal_error", times=2, channel="C0STOPDOWN")

    _stop_by_command(local, "U0STOP10", approval.thread_id)
    local.slack.wait_for("chat.postMessage", lambda c: _in_thread(local, approval, c, ":octagonal_sign: Stopped by"))
    with local.paused():
        local.slack.stop_failing("chat.update")
        assert _progress_message(local, approval) == before  # its Stop button still there
        local.runtime.advance(approval.thread_id)  # what a worker does once the stopper's time to tell it passed

    progress = _progress_message(local, approval)
    assert not [b for b in progress["blocks"] if b["type"] == "actions"] and progress["blocks"][0] == before["blocks"][0]
    assert "*Withdrawn*: <@U0STOP10> stopped the run" in str(local.message(approval)["blocks"])
    posts = local.slack.calls_to("chat.postMessage")
    assert len([c for c in posts if _in_thread(local, approval, c, ":octagonal_sign: Stopped by")]) == 1
    assert local.store.runs.get_run(approval.thread_id).outcome_posted_at is not None
