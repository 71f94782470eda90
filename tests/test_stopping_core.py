"""Stopping a run through the core, with no Slack: any front-end stops a run through `Stopping`, is told the
withdrawn requests and the halted ending, and the agent is never resumed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from approvals.frontend import RequestChanged
from approvals.models import Decision, DecisionType, Ending, RunStatus, Status, utcnow
from approvals.stopping import TELL_AFTER, NotAllowedToStop, RunAlreadyEnded, Stopping
from tests import test_front_end
from tests.test_front_end import Desk, _run
from worker.services import Services

desk = test_front_end.desk  # the same front-end of its own, as a fixture here too


def _stopping(people: Desk, services: Services) -> Stopping:
    return Stopping(services.runtime.store, lambda user: user == "admin", people)


def test_a_stop_withdraws_the_pending_request_and_tells_the_halted_ending(desk: tuple[Desk, Services]) -> None:
    people, services = desk
    thread_id = _run(services, "Refund order #61 for $250")
    [request] = people.waiting()
    stopping = _stopping(people, services)

    stopped = stopping.stop(thread_id, "carol", "  Wrong order  ")
    stopping.announce(stopped)

    assert stopped.withdrawn == [request.id]
    shown_again = [e.approval for e in people.events if isinstance(e, RequestChanged)]
    assert shown_again[-1].id == request.id and shown_again[-1].status is Status.WITHDRAWN
    assert people.ending().ending == Ending(kind="halted", decided_by="carol", reason="Wrong order")
    run = services.runtime.store.runs.get_run(thread_id)
    assert run.status is RunStatus.DONE and run.outcome_posted_at is not None


def test_a_stopped_runs_decision_is_never_handed_to_its_agent(desk: tuple[Desk, Services]) -> None:
    people, services = desk
    thread_id = _run(services, "Refund order #62 for $250")
    [request] = people.waiting()
    store = services.runtime.store
    store.decisions.decide(request.id, Decision(type=DecisionType.APPROVE, decided_by="alice"))

    _stopping(people, services).stop(thread_id, "admin")

    assert store.due.resumes_owed(utcnow() + timedelta(hours=1)) == []
    assert services.runtime.resume(request.id) == "halted"
    assert store.requests.get(request.id).resumed_at is None


def test_only_the_requester_or_an_admin_may_stop_and_a_refusal_changes_nothing(desk: tuple[Desk, Services]) -> None:
    people, services = desk
    thread_id = _run(services, "Refund order #63 for $250")
    [request] = people.waiting()

    with pytest.raises(NotAllowedToStop):
        _stopping(people, services).stop(thread_id, "bob")

    assert services.runtime.store.requests.get(request.id).is_pending
    assert [e for e in services.runtime.store.audit_log.audit_events() if e.event == "run_stopped"] == []


def test_a_run_stops_once(desk: tuple[Desk, Services]) -> None:
    people, services = desk
    thread_id = _run(services, "Refund order #64 for $250")
    stopping = _stopping(people, services)
    stopping.stop(thread_id, "carol")

    with pytest.raises(RunAlreadyEnded):
        stopping.stop(thread_id, "admin")

    assert services.runtime.store.runs.get_run(thread_id).stop_requested_by == "carol"


def test_a_worker_does_not_overwrite_a_stopped_runs_ending(desk: tuple[Desk, Services]) -> None:
    people, services = desk
    thread_id = _run(services, "Refund order #65 for $250")
    _stopping(people, services).stop(thread_id, "carol")
    store = services.runtime.store

    store.runs.finish_run(thread_id, RunStatus.DONE, Ending(kind="answered", answer="done anyway"))

    assert not store.runs.update_run(thread_id, status=RunStatus.WAITING)
    run = store.runs.get_run(thread_id)
    assert run.status is RunStatus.DONE and run.ending == Ending(kind="halted", decided_by="carol")


def test_a_stop_the_front_end_could_not_tell_is_told_by_a_worker_a_little_later(desk: tuple[Desk, Services]) -> None:
    people, services = desk
    thread_id = _run(services, "Refund order #66 for $250")
    store = services.runtime.store
    unreachable = Stopping(store, lambda user: False, test_front_end.Unreachable())

    unreachable.announce(unreachable.stop(thread_id, "carol", "Slack is down"))

    assert store.runs.get_run(thread_id).outcome_posted_at is None
    assert thread_id not in store.due.runs_owed(utcnow())  # the stopper's own telling goes first
    assert thread_id in store.due.runs_owed(utcnow() + TELL_AFTER + timedelta(seconds=1))
    assert services.runtime.advance(thread_id) == "done"
    assert people.ending().ending == Ending(kind="halted", decided_by="carol", reason="Slack is down")
