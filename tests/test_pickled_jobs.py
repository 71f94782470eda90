"""A job in Redis cannot carry code: jobs are JSON, and one written with pickle runs nothing (through the real
worker)."""

from __future__ import annotations

import uuid
from pathlib import Path

from rq import Queue
from rq.job import Job

from approvals.job_queue import RUN, SERIALIZER, run_job_id
from approvals.runs import RunRequest, start_run
from tests.stack import Stack, wait_until


class _RunsCodeWhenUnpickled:
    """What an attacker who can write to Redis would put in a pickled job: loading it calls a function of
    their choosing (here, one that creates a file)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.path, "w"))


def test_job_written_to_redis_with_pickle_is_recorded_as_failed_and_runs_nothing(stack: Stack, tmp_path: Path) -> None:
    ran = tmp_path / "pickle-ran"
    job_id = f"pickled-{uuid.uuid4().hex[:8]}"
    # RQ's default serializer is pickle: enqueued as anyone with access to Redis could.
    pickled = Queue(stack.queue.queue.name, connection=stack.queue.connection)
    pickled.enqueue(RUN, _RunsCodeWhenUnpickled(str(ran)), job_id=job_id)

    failed = stack.queue.queue.failed_job_registry
    wait_until(lambda: job_id in failed.get_job_ids(), 20, "the pickled job to be recorded as failed")

    assert not ran.exists()
    failure = Job.fetch(job_id, connection=stack.queue.connection, serializer=SERIALIZER).latest_result()
    assert failure is not None and "DeserializationError" in (failure.exc_string or "")


def test_run_whose_job_was_queued_with_pickle_by_an_earlier_release_still_reaches_its_request(stack: Stack) -> None:
    request = RunRequest(agent="payments", input_text="Refund order #370 for $250", requested_by="U0UPGRADE")
    Queue(stack.queue.queue.name, connection=stack.queue.connection).enqueue(
        RUN, request.thread_id, job_id=run_job_id(request.thread_id)
    )

    start_run(request, stack.store, None)

    assert stack.wait_for_request(request.thread_id).action.args["order_id"] == "370"
