"""A question answered with text: `answer = interrupt("What is the ticket number?")`, declared `resume="text"`
(for the agent, or per interrupt type), gets an Answer button and resumes with the typed text, or the
chosen one of the options the question lists, as a plain string. Nothing else answers it."""

from __future__ import annotations

from datetime import timedelta

from approvals.models import ApprovalRequest
from approvals.policies import Rule
from bot.ids import ActionId, BlockId
from sandbox.driver import plain_text_value, static_select_value
from tests.local import Local
from tests.stack import SlackUser, Stack


def _buttons(user: SlackUser, approval: ApprovalRequest) -> list[tuple[str, str]]:
    blocks = user.message(approval)["blocks"]
    return [
        (e["action_id"], e["text"]["text"])
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    ]


def _tickets(user: SlackUser) -> list[str]:
    record = user.effects / "tickets"
    return record.read_text().splitlines() if record.exists() else []


def _answer(user: SlackUser, approval: ApprovalRequest, values: dict[str, dict[str, object]]) -> dict[str, object]:
    """Click Answer, submit the modal with `values`; returns the modal as it opened."""
    view = user.open_modal("U0APPROVER", ActionId.ANSWER, approval).response["view"]
    response = user.driver.view_submission("U0APPROVER", view, values)
    assert response.status == 200, response.body
    return dict(view)


def test_question_declared_as_text_offers_only_answer(local: Local) -> None:
    approval = local.start_run("Find my ticket", agent="ticket_lookup")

    assert approval.kind == "interrupt:text"
    assert _buttons(local, approval) == [(ActionId.ANSWER, "Answer")]
    blocks = str(local.message(approval)["blocks"])
    assert "ticket_lookup asks a question" in blocks and "What is the ticket number?" in blocks


def test_answer_resumes_the_agent_with_the_typed_text(local: Local) -> None:
    approval = local.start_run("Find my ticket", agent="ticket_lookup")

    view = _answer(local, approval, {BlockId.ANSWER_TEXT: {ActionId.ANSWER_TEXT: plain_text_value("T-4821")}})

    assert "What is the ticket number?" in str(view["blocks"])
    assert "Looking up ticket T-4821." in local.outcome(approval)
    assert _tickets(local).count("T-4821") == 1
    assert local.store.requests.get(approval.id).action.decision.message == "T-4821"


def test_question_listing_options_offers_them_in_a_select_and_resumes_with_the_chosen_one(local: Local) -> None:
    approval = local.start_run("Ship it", agent="deploy_target")
    assert approval.kind == "interrupt:text"  # declared for the interrupt's type, "choice"
    view = local.open_modal("U0APPROVER", ActionId.ANSWER, approval).response["view"]
    select = next(b["element"] for b in view["blocks"] if b.get("block_id") == BlockId.ANSWER_OPTION)
    assert [o["text"]["text"] for o in select["options"]] == ["staging", "production"]

    local.driver.view_submission("U0APPROVER", view, {BlockId.ANSWER_OPTION: {ActionId.ANSWER_OPTION: static_select_value("1")}})

    assert "Deploying to production." in local.outcome(approval)


QUICK_QUESTION = Rule(name="quick question", agent="ticket_lookup", tool="interrupt", timeout="1h")


def test_deadline_on_a_question_resumes_nothing_and_stops_the_run(local: Local) -> None:
    local.policies(QUICK_QUESTION)
    approval = local.start_run("Find my ticket before lunch", agent="ticket_lookup")
    assert approval.deadline_at is not None
    answered_before = len(_tickets(local))

    local.fire_due(approval.deadline_at + timedelta(seconds=1))

    stopped = local.slack.wait_for(
        "chat.postMessage",
        lambda call: call.params.get("thread_ts") == local.ts_of(approval) and call.params["text"].startswith(":no_entry:"),
        timeout=20,
    )
    assert stopped.params["text"].startswith(":no_entry: The `ticket_lookup` run was stopped: the deadline said no")
    assert "Nobody answered its question" in stopped.params["text"]
    assert len(_tickets(local)) == answered_before
    assert local.store.runs.get_run(approval.thread_id).status == "done"


def test_undeclared_question_keeps_approve_and_reject_and_no_answer(local: Local) -> None:
    approval = local.start_run("Find my ticket", agent="ticket_lookup_undeclared")

    assert approval.kind == "interrupt:undeclared"
    assert [action for action, _ in _buttons(local, approval)] == [ActionId.APPROVE, ActionId.REJECT]


def test_question_answered_through_the_processes(stack: Stack) -> None:
    approval = stack.start_run("Find my ticket", agent="ticket_lookup")
    assert _buttons(stack, approval) == [(ActionId.ANSWER, "Answer")]

    _answer(stack, approval, {BlockId.ANSWER_TEXT: {ActionId.ANSWER_TEXT: plain_text_value("T-9907")}})

    assert "Looking up ticket T-9907." in stack.outcome(approval)
    assert _tickets(stack).count("T-9907") == 1
