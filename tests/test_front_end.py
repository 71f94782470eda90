"""A new front-end is one small piece: this one is told the core's events and decides through the core,
taking a run from its request to its outcome with no Slack involved."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

import pytest

from approvals.authorization import ChannelMembers
from approvals.deciding import Deciding
from approvals.errors import NotAnApprover
from approvals.frontend import Event, FrontEnds, FrontEndUnavailable, RequestChanged, RequestToDecide, RunEnded
from approvals.models import ApprovalRequest, Decision, DecisionType, RunStatus, Status
from approvals.runs import RunRequest, start_run
from approvals.settings import Settings
from countersign.migrate import migrate
from countersign.wiring import build_services
from worker.services import Services

PEOPLE = frozenset({"alice", "bob"})


class Desk:
    """The test's front-end: people at one desk, who see what the core tells them and decide through it."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.deciding: Deciding | None = None

    def tell(self, event: Event) -> bool:
        self.events.append(event)
        return True

    def group_members(self, entries: Sequence[str]) -> set[str]:
        return set()

    def channel_members(self, channels: Sequence[str]) -> ChannelMembers:
        return ChannelMembers(PEOPLE, {})  # everyone at the desk decides what its rule leaves to "the channel"

    def waiting(self) -> list[ApprovalRequest]:
        return [event.approval for event in self.events if isinstance(event, RequestToDecide)]

    def decide(self, approval: ApprovalRequest, who: str, kind: DecisionType, message: str | None = None) -> None:
        assert self.deciding is not None
        decision = Decision(type=kind, decided_by=who, message=message)
        self.deciding.hand_over(self.deciding.decide(approval, decision))
        self.deciding.announce(approval.id)

    def ending(self) -> RunEnded:
        return next(event for event in reversed(self.events) if isinstance(event, RunEnded))


@pytest.fixture
def desk(settings: Settings, empty_database_url: str) -> Iterator[tuple[Desk, Services]]:
    desk = Desk()
    own = settings.model_copy(
        update={
            "database_url": empty_database_url,
            "countersign_queue": f"desk-{uuid.uuid4().hex[:8]}",
            "countersign_agents": "tests.agents:AGENTS",
            "countersign_policies": None,
        }
    )
    migrate(own)
    services = build_services(own, front_end=lambda _settings, _store: desk)
    desk.deciding = Deciding(services.runtime.store, services.runtime.queue, desk, desk)
    yield desk, services
    services.runtime.checkpointer.close()
    services.runtime.store.db.engine.dispose()


def _run(services: Services, text: str) -> str:
    request = RunRequest(agent="payments", input_text=text, requested_by="carol")
    start_run(request, services.runtime.store, None)
    services.runtime.advance(request.thread_id)
    return request.thread_id


def test_a_front_end_of_its_own_shows_the_request_and_its_approval_runs_the_tool(desk: tuple[Desk, Services]) -> None:
    people, services = desk
    _run(services, "Refund order #42 for $250")
    [request] = people.waiting()
    assert (request.action.tool, request.action.args["order_id"], request.action.args["amount"]) == ("refund", "42", 250.0)

    people.decide(request, "alice", DecisionType.APPROVE)
    services.runtime.resume(request.id)

    ending = people.ending()
    assert ending.ending.kind == "answered" and "Refunded $250.00 for order #42" in str(ending.ending.answer)
    shown_again = [e.approval for e in people.events if isinstance(e, RequestChanged)]
    assert shown_again[-1].status is Status.APPROVED and shown_again[-1].action.decision.decided_by == "alice"


def test_a_front_end_of_its_own_rejects_through_the_core_and_the_agent_reads_the_reason(desk: tuple[Desk, Services]) -> None:
    people, services = desk
    thread_id = _run(services, "Refund order #43 for $250")
    [request] = people.waiting()

    people.decide(request, "bob", DecisionType.REJECT, message="Order #43 was already refunded by hand.")
    services.runtime.resume(request.id)

    answer = str(people.ending().ending.answer)
    assert "Refunded" not in answer
    assert "already refunded by hand" in answer
    assert services.runtime.store.runs.get_run(thread_id).outcome == answer


def test_the_core_refuses_whom_the_front_ends_directory_does_not_list(desk: tuple[Desk, Services]) -> None:
    people, services = desk
    _run(services, "Refund order #44 for $250")
    [request] = people.waiting()

    with pytest.raises(NotAnApprover):
        people.decide(request, "mallory", DecisionType.APPROVE)

    refused = [e for e in services.runtime.store.audit_log.audit_events(request.id) if e.event == "click_refused"]
    assert [e.actor for e in refused] == ["mallory"]
    assert services.runtime.store.requests.get(request.id).is_pending


def test_the_requester_may_not_decide_their_own_run(desk: tuple[Desk, Services], monkeypatch: pytest.MonkeyPatch) -> None:
    people, services = desk
    monkeypatch.setattr("tests.test_front_end.PEOPLE", PEOPLE | {"carol"})
    _run(services, "Refund order #45 for $250")
    [request] = people.waiting()

    with pytest.raises(NotAnApprover) as refused:
        people.decide(request, "carol", DecisionType.APPROVE)

    assert refused.value.self_approval

    assert services.runtime.store.requests.get(request.id).is_pending


class Unreachable:
    """A front-end whose service is down."""

    def tell(self, event: Event) -> bool:
        raise FrontEndUnavailable("down")


def test_several_front_ends_are_each_told_and_one_that_fails_does_not_silence_the_others(
    desk: tuple[Desk, Services],
) -> None:
    people, services = desk
    other = Desk()
    everyone = FrontEnds([Unreachable(), people, other])
    services.runtime.front_end = everyone
    request = RunRequest(agent="payments", input_text="Refund order #46 for $250", requested_by="carol")
    start_run(request, services.runtime.store, None)

    outcome = services.runtime.advance(request.thread_id)

    assert [r.action.args["order_id"] for r in people.waiting()] == ["46"] == [r.action.args["order_id"] for r in other.waiting()]
    assert outcome == "waiting"  # shown where it could be, and not shown twice by a retry


def test_a_front_end_that_stays_unavailable_never_fails_the_run(desk: tuple[Desk, Services]) -> None:
    _, services = desk
    services.runtime.front_end = FrontEnds([Unreachable()])
    request = RunRequest(agent="payments", input_text="Refund order #48 for $250", requested_by="carol")
    start_run(request, services.runtime.store, None)

    for _ in range(services.runtime.settings.max_attempts * 2):
        assert services.runtime.advance(request.thread_id) == "not shown"
        services.runtime.store.runs.update_run(request.thread_id, next_attempt_at=None)  # its backoff passed

    assert services.runtime.store.runs.get_run(request.thread_id).status is RunStatus.RUNNING


def test_a_request_no_front_end_could_show_is_tried_again(desk: tuple[Desk, Services]) -> None:
    people, services = desk
    services.runtime.front_end = FrontEnds([Unreachable()])
    request = RunRequest(agent="payments", input_text="Refund order #47 for $250", requested_by="carol")
    start_run(request, services.runtime.store, None)

    assert services.runtime.advance(request.thread_id) == "not shown"
    services.runtime.front_end = people
    services.runtime.store.runs.update_run(request.thread_id, next_attempt_at=None)

    assert services.runtime.advance(request.thread_id) == "waiting"
    assert [r.action.args["order_id"] for r in people.waiting()] == ["47"]
