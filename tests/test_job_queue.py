"""Owed work always has a live job: duplicates collapse, and a job a dead worker left behind is replaced
(against a real Valkey, on a queue no worker listens to)."""

from __future__ import annotations

import json
import threading
import uuid
import zlib
from datetime import timedelta

import pytest
from redis import Redis
from redis.client import Pipeline
from rq.job import Job

from approvals.job_queue import RUN, SERIALIZER, JobQueue, run_job_id


def _queue(valkey: str) -> JobQueue:
    return JobQueue(Redis.from_url(valkey), f"test-{uuid.uuid4().hex[:8]}")


def _runs_enqueued(queue: JobQueue, prefix: str, count: int) -> list[str]:
    threads = [f"{prefix}-{n}" for n in range(count)]
    for thread in threads:
        queue.enqueue_run(thread)
    return threads


def _round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What this thread sends to Redis from here on: each command sent alone by name, each pipeline as
    "pipeline" (the in-process tier's worker thread, if this test process runs it, polls its own queue)."""
    trips: list[str] = []
    here = threading.get_ident()
    single, batched = Redis.execute_command, Pipeline.execute

    def note(trip: str) -> None:
        if threading.get_ident() == here:
            trips.append(trip)

    monkeypatch.setattr(Redis, "execute_command", lambda self, *a, **k: note(str(a[0])) or single(self, *a, **k))
    monkeypatch.setattr(Pipeline, "execute", lambda self, *a, **k: note("pipeline") or batched(self, *a, **k))
    return trips


def test_handing_over_the_same_work_twice_makes_one_job(valkey: str) -> None:
    queue = _queue(valkey)

    assert queue.enqueue_run("t1") is True
    assert queue.enqueue_run("t1") is False
    assert queue.ensure(RUN, ("t1",), run_job_id("t1"), timedelta(seconds=10)) == "waiting"
    assert queue.queue.get_job_ids() == [run_job_id("t1")]


def test_job_taken_off_the_queue_by_a_worker_that_died_is_enqueued_again(valkey: str) -> None:
    queue = _queue(valkey)
    queue.enqueue_run("t2")
    # A worker's dequeue moves the id to RQ's intermediate list; it died before starting the job.
    queue.connection.lmove(queue.queue.key, queue.queue.intermediate_queue_key)

    assert queue.ensure(RUN, ("t2",), run_job_id("t2"), timedelta(0)) == "replaced"
    assert queue.queue.get_job_ids() == [run_job_id("t2")]
    assert queue.connection.llen(queue.queue.intermediate_queue_key) == 0


def test_job_left_started_by_a_dead_worker_is_replaced_after_the_grace(valkey: str) -> None:
    queue = _queue(valkey)
    queue.enqueue_run("t3")
    job = Job.fetch(run_job_id("t3"), connection=queue.connection, serializer=SERIALIZER)
    queue.connection.lmove(queue.queue.key, queue.queue.intermediate_queue_key)
    job.set_status("started")
    job.started_at = job.enqueued_at
    job.save()

    assert queue.ensure(RUN, ("t3",), run_job_id("t3"), timedelta(hours=1)) == "started"
    assert queue.ensure(RUN, ("t3",), run_job_id("t3"), timedelta(0)) == "replaced"
    assert queue.queue.get_job_ids() == [run_job_id("t3")]


def test_checking_many_waiting_jobs_takes_one_round_trip(valkey: str, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = _queue(valkey)
    threads = _runs_enqueued(queue, "t4", 50)
    trips = _round_trips(monkeypatch)

    found = queue.ensure_all(RUN, [((t,), run_job_id(t)) for t in threads], timedelta(seconds=10))

    assert found == ["waiting"] * 50
    assert trips == ["pipeline"]
    assert queue.queue.get_job_ids() == [run_job_id(t) for t in threads]


def test_a_backlog_waiting_past_the_grace_is_checked_in_one_more_round_trip(valkey: str, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = _queue(valkey)
    threads = _runs_enqueued(queue, "t6", 50)
    trips = _round_trips(monkeypatch)

    # Every job has waited longer than the grace (a busy worker), and every one is still on the queue.
    found = queue.ensure_all(RUN, [((t,), run_job_id(t)) for t in threads], timedelta(0))

    assert found == ["waiting"] * 50
    assert trips == ["pipeline", "LRANGE"]
    assert queue.queue.get_job_ids() == [run_job_id(t) for t in threads]


def test_checking_many_jobs_hands_over_only_the_missing_and_the_dead(valkey: str) -> None:
    queue = _queue(valkey)
    queue.enqueue_run("t5-live")
    queue.enqueue_run("t5-dead")
    queue.connection.lrem(queue.queue.key, 0, run_job_id("t5-dead"))  # taken off by a worker that died
    owed = [((t,), run_job_id(t)) for t in ("t5-live", "t5-missing", "t5-dead")]

    assert queue.ensure_all(RUN, owed, timedelta(0)) == ["waiting", "enqueued", "replaced"]
    assert sorted(queue.queue.get_job_ids()) == sorted(run_job_id(t) for t in ("t5-live", "t5-missing", "t5-dead"))


def test_a_job_redis_holds_damaged_is_replaced_and_does_not_stop_the_others(valkey: str) -> None:
    queue = _queue(valkey)
    queue.enqueue_run("t7-damaged")
    queue.enqueue_run("t7-fine")
    queue.connection.hset(Job.key_for(run_job_id("t7-damaged")), "status", "no-such-status")
    owed = [((t,), run_job_id(t)) for t in ("t7-damaged", "t7-fine")]

    assert queue.ensure_all(RUN, owed, timedelta(seconds=10)) == ["replaced", "waiting"]
    assert Job.fetch(run_job_id("t7-damaged"), connection=queue.connection, serializer=SERIALIZER).get_status() == "queued"
    assert sorted(queue.queue.get_job_ids()) == sorted(run_job_id(t) for t in ("t7-damaged", "t7-fine"))


def test_a_job_in_redis_is_a_dotted_name_and_ids_in_json(valkey: str) -> None:
    queue = _queue(valkey)

    queue.enqueue_run("t8")

    stored = queue.connection.hget(Job.key_for(run_job_id("t8")), "data")
    assert json.loads(zlib.decompress(stored or b"")) == [RUN, None, ["t8"], {}]
