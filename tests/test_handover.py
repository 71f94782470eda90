"""Ask someone else: a person who may decide a request (or an admin) hands it to someone else, who may then decide
it as a named approver would; the rule's other limits still hold, and each hand-over is audited."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from approvals.deciding import Deciding
from approvals.errors import HandoverRefused
from approvals.frontend import RequestHandedOver
from approvals.models import ApprovalRequest, DecisionType
from approvals.policies import Rule
from bot.handover_modal import handover_modal
from bot.ids import ActionId, BlockId, CallbackId
from bot.metadata import ApprovalRef
from bot.more_menu import More, option_value
from sandbox.driver import Response
from sandbox.view_values import users_select_value
from tests.local import Local
from tests.test_block_kit import approval as block_kit_approval
from tests.test_block_kit import valid_modal
from tests.test_edit_rules import _edit_amount
from tests.test_front_end import Desk, _run, desk  # noqa: F401 - `desk` is the core-only fixture
from worker.services import Services

PASSED_ON = Rule(
    name="passed-on refunds",
    agent="payments",
    tool="refund",
    when="amount == 901",
    approvers=["U0HANDA", "U0HANDB"],
    allow_handover=True,
)
KEPT = Rule(name="kept refunds", agent="payments", tool="refund", when="amount == 902", approvers=["U0KEEPER"])


@pytest.fixture
def handing(local: Local) -> Iterator[Local]:
    local.policies(PASSED_ON, KEPT)
    yield local


def _choose(local: Local, user: str, approval: ApprovalRequest, intent: More) -> Response:
    """Choose an option of the request's ⋯ menu, as Slack sends it."""
    posted = local.posted(approval)
    assert posted is not None
    ref = ApprovalRef(approval_id=approval.id, rev=approval.revision).dump()
    return local.driver.block_action(
        user,
        ActionId.MORE,
        option_value(intent, ref),
        channel_id=posted.channel,
        container_message_ts=posted.ts,
        message=local.message(approval),
    )


def _hand_over(local: Local, user: str, approval: ApprovalRequest, to: str | None) -> dict:
    """Choose "Ask someone else…", pick `to` and submit; the submission's answer (empty: the modal closed)."""
    response = _choose(local, user, approval, More.HANDOVER)
    assert response.status == 200
    trigger = response.payload["trigger_id"] if response.payload else None
    opened = local.slack.wait_for("views.open", lambda call: call.params.get("trigger_id") == trigger)
    view = opened.response["view"]
    assert view["callback_id"] == CallbackId.HANDOVER_MODAL
    values = {BlockId.HANDOVER_PERSON: {ActionId.HANDOVER_PERSON: users_select_value(to)}}
    submitted = local.driver.view_submission(user, view, values)
    assert submitted.status == 200
    return json.loads(submitted.body) if submitted.body else {}


def _inline_error(answer: dict) -> str:
    assert answer.get("response_action") == "errors", answer
    return str(answer["errors"][BlockId.HANDOVER_PERSON])


def test_the_hand_over_modal_is_a_valid_person_picker() -> None:
    asked = block_kit_approval().model_copy(update={"handed_to": ["U0EARLIER"]})

    view = valid_modal(handover_modal(asked, None))

    assert view["callback_id"] == CallbackId.HANDOVER_MODAL
    [picker] = [b["element"] for b in view["blocks"] if b.get("block_id") == BlockId.HANDOVER_PERSON]
    assert picker["type"] == "users_select" and "Already asked: <@U0EARLIER>" in str(view["blocks"])


def test_the_person_a_request_is_handed_to_may_decide_it(handing: Local) -> None:
    approval = handing.start_run("Refund order #901 for $901")

    assert _hand_over(handing, "U0HANDA", approval, "U0HANDC") == {}

    handing.wait_for_update(approval, lambda call: "Handed to <@U0HANDC> by <@U0HANDA>" in str(call.params.get("blocks")))
    assert handing.store.requests.get(approval.id).handed_to == ["U0HANDC"]
    handing.click("U0HANDC", ActionId.APPROVE, approval)
    assert "Refunded $901.00 for order #901" in handing.outcome(approval)


def test_a_call_edited_under_another_rule_waits_for_that_rules_deciders_not_the_person_handed_it(handing: Local) -> None:
    approval = handing.start_run("Refund order #9031 for $901")
    _hand_over(handing, "U0HANDA", approval, "U0HANDC")
    _edit_amount(handing, "U0HANDA", handing.store.requests.get(approval.id), "902")  # now under "kept refunds"
    moved = handing.store.requests.get(approval.id)
    assert moved.gate_of(0).rule == KEPT.name and moved.is_pending

    handing.click("U0HANDC", ActionId.APPROVE, moved)

    assert handing.store.requests.get(approval.id).is_pending
    handing.click("U0KEEPER", ActionId.APPROVE, moved)
    assert "Refunded $902.00 for order #9031" in handing.outcome(approval)


def test_a_hand_over_is_audited(handing: Local) -> None:
    approval = handing.start_run("Refund order #9011 for $901")

    _hand_over(handing, "U0HANDB", approval, "U0HANDD")

    [row] = [e for e in handing.store.audit_log.audit_events(approval.id) if e.event == "handed_over"]
    assert (row.actor, row.detail) == ("U0HANDB", {"to": "U0HANDD", "rules": [PASSED_ON.name]})


def test_the_home_tabs_list_holds_a_handed_over_request_for_the_person_asked(handing: Local) -> None:
    # What the Home tab pages through, without the requests of the session's channel (everyone decides those).
    def listed() -> list[str]:
        return [r.id for r in Deciding(handing.store, handing.queue).pending_for("U0HANDE", 100).requests]

    approval = handing.start_run("Refund order #9012 for $901")
    assert approval.id not in listed()

    _hand_over(handing, "U0HANDA", approval, "U0HANDE")

    assert approval.id in listed()


@pytest.mark.parametrize(
    ("to", "said"),
    [
        ("U0HANDA", "You can decide it yourself: choose someone else."),
        ("U0HANDASKER", "<@U0HANDASKER> proposed a call of this request"),
        ("U0HANDB", "<@U0HANDB> can already decide this request"),
        ("U0BOT", "<@U0BOT> cannot decide requests"),
    ],
)
def test_the_picker_refuses_who_cannot_be_handed_the_request(handing: Local, to: str, said: str) -> None:
    approval = handing.start_run("Refund order #9013 for $901", user="U0HANDASKER")

    answer = _hand_over(handing, "U0HANDA", approval, to)

    assert said in _inline_error(answer)
    assert handing.store.requests.get(approval.id).handed_to == []


def test_the_picker_refuses_someone_already_asked(handing: Local) -> None:
    approval = handing.start_run("Refund order #9014 for $901")
    _hand_over(handing, "U0HANDA", approval, "U0HANDF")

    answer = _hand_over(handing, "U0HANDB", handing.store.requests.get(approval.id), "U0HANDF")

    assert "<@U0HANDF> was already asked to decide this request." in _inline_error(answer)
    assert len([e for e in handing.store.audit_log.audit_events(approval.id) if e.event == "handed_over"]) == 1


def test_someone_who_may_not_decide_a_request_cannot_hand_it_on(handing: Local) -> None:
    approval = handing.start_run("Refund order #9015 for $901")
    opened = len(handing.slack.calls_to("views.open"))

    _choose(handing, "U0HANDSTRANGER", approval, More.HANDOVER)

    assert "only someone who may decide this request (or an admin) can hand it on" in handing.ephemeral_to("U0HANDSTRANGER")[0]
    assert len(handing.slack.calls_to("views.open")) == opened
    refused = [e for e in handing.store.audit_log.audit_events(approval.id) if e.event == "click_refused"]
    assert [(e.actor, e.detail["intent"]) for e in refused] == [("U0HANDSTRANGER", "handover")]


def test_the_menu_offers_no_hand_over_where_the_rule_does_not_allow_it(handing: Local) -> None:
    approval = handing.start_run("Refund order #902 for $902")

    menus = [
        e for b in handing.message(approval)["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "overflow"
    ]

    assert all("Ask someone else…" not in str(menu["options"]) for menu in menus)


def test_an_admin_hands_over_with_the_slash_command_where_the_rule_does_not_offer_it(handing: Local) -> None:
    approval = handing.start_run("Refund order #9021 for $902")

    reply = handing.slash("U0ADMIN", f"handover {approval.id} <@U0HANDG|g>")

    assert reply.startswith("Asked <@U0HANDG> to decide request")
    handing.click("U0HANDG", ActionId.APPROVE, handing.store.requests.get(approval.id))
    assert "Refunded $902.00 for order #9021" in handing.outcome(approval)


def test_an_approver_cannot_hand_over_where_the_rule_does_not_allow_it(handing: Local) -> None:
    approval = handing.start_run("Refund order #9022 for $902")

    reply = handing.slash("U0KEEPER", f"handover {approval.id} <@U0HANDH|h>")

    assert reply == "Nothing changed: rule _kept refunds_ does not let its deciders hand a request on; only admins may."
    assert handing.store.requests.get(approval.id).handed_to == []


def test_the_person_handed_a_request_may_not_approve_a_run_they_asked_for(handing: Local) -> None:
    approval = handing.start_run("Refund order #9023 for $902", user="U0HANDI")

    reply = handing.slash("U0ADMIN", f"handover {approval.id} <@U0HANDI>")

    assert "<@U0HANDI> proposed a call of this request" in reply
    assert handing.store.requests.get(approval.id).handed_to == []


def test_the_core_tells_the_front_end_whom_a_request_was_handed_to(desk: tuple[Desk, Services]) -> None:  # noqa: F811
    people, services = desk
    _run(services, "Refund order #48 for $250")
    [request] = people.waiting()
    assert people.deciding is not None

    people.deciding.hand_to(request, "dave", "alice", admin=True)
    people.deciding.announce_handover(request.id, "dave", "alice")

    [told] = [e for e in people.events if isinstance(e, RequestHandedOver)]
    assert (told.to, told.by, told.approval.handed_to, told.approval.handed_by) == ("dave", "alice", ["dave"], {"dave": "alice"})
    people.decide(services.runtime.store.requests.get(request.id), "dave", DecisionType.APPROVE)
    assert services.runtime.store.requests.get(request.id).action.decision is not None


def test_a_request_the_rule_keeps_cannot_be_handed_over_by_a_decider(desk: tuple[Desk, Services]) -> None:  # noqa: F811
    people, services = desk
    _run(services, "Refund order #49 for $250")
    [request] = people.waiting()
    assert people.deciding is not None

    with pytest.raises(HandoverRefused) as refused:
        people.deciding.hand_to(request, "dave", "alice")

    assert refused.value.reason == "not_allowed"
    assert services.runtime.store.requests.get(request.id).handed_to == []


def test_the_picker_refuses_a_deactivated_account(handing: Local) -> None:
    handing.slack.deactivate("U0HANDGONE")
    approval = handing.start_run("Refund order #9016 for $901")

    answer = _hand_over(handing, "U0HANDA", approval, "U0HANDGONE")

    assert "<@U0HANDGONE> cannot decide requests" in _inline_error(answer)
    assert handing.store.requests.get(approval.id).handed_to == []
