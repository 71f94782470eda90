"""Opt-in timing marks inside the worker process, for `python bench/loop.py --profile`.

Installed by `bench.agents` when the worker runs with `BENCH_PROFILE=1`. Wraps (in this process
only, nothing on disk changes) the steps between RQ dequeuing a resume job and the gated tool
starting: the job process's job preparation and each step of `AgentRuntime.resume` (store reads
and writes, the checkpointer, get_state, invoke). Each wrapped call appends `(label, time.time())`
marks to a list in the job process, and the gated tool ships them with its start time (after it
has taken that time, so shipping costs nothing measured).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any

PROFILE_KEY_PREFIX = "countersign:bench:profile:"

_marks: list[tuple[str, float]] = []
# Marks taken while a job is dequeued, before `execute_job` starts the job's own list.
_dequeue_marks: list[tuple[str, float]] = []
_installed = False


def profile_key(thread_id: str) -> str:
    """The Redis list holding one JSON list of marks per resume of `thread_id`."""
    return PROFILE_KEY_PREFIX + thread_id


def mark(label: str, at: float | None = None) -> None:
    _marks.append((label, time.time() if at is None else at))


def drain(thread_id: str) -> list[tuple[str, str]]:
    """The marks so far, as (redis key, JSON) to push; clears them."""
    payload = json.dumps(_marks)
    _marks.clear()
    return [(profile_key(thread_id), payload)]


def _timed(owner: Any, name: str, label: str, *, end: bool = True) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        mark(label + ">")
        try:
            return original(*args, **kwargs)
        finally:
            if end:
                mark(label + "<")

    setattr(owner, name, wrapper)


def install() -> None:
    """Wrap the steps of a resume job with marks (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True

    from langgraph.pregel import Pregel
    from rq.job import Job
    from rq.queue import Queue
    from rq.worker import SimpleWorker
    from rq.worker.base import BaseWorker

    import worker.jobs
    from approvals.store.requests import Requests
    from approvals.store.runs import Runs
    from worker.checkpointer import KeptCheckpointer

    # A job process dequeued a job (execute_job starts right after); reset the marks for it.
    original_execute = SimpleWorker.execute_job

    @functools.wraps(original_execute)
    def execute_job(self: Any, job: Any, queue: Any) -> Any:
        _marks.clear()
        enqueued = job.enqueued_at
        if enqueued is not None:
            if enqueued.tzinfo is None:
                enqueued = enqueued.replace(tzinfo=UTC)
            mark("bot: job enqueued (rq enqueued_at)", enqueued.timestamp())
        _marks.extend(_dequeue_marks)
        mark("job process: execute_job (dequeued)")
        return original_execute(self, job, queue)

    SimpleWorker.execute_job = execute_job  # type: ignore[method-assign]

    # How the dequeue itself goes: BLMOVE's return, then the job's fetch.
    original_lmove = Queue.lmove.__func__  # type: ignore[attr-defined]

    def lmove(cls: Any, *args: Any, **kwargs: Any) -> Any:
        _dequeue_marks.clear()
        result = original_lmove(cls, *args, **kwargs)
        _dequeue_marks.append(("job process: BLMOVE returned", time.time()))
        return result

    Queue.lmove = classmethod(lmove)  # type: ignore[method-assign,assignment]
    original_fetch = Queue._fetch_dequeued_job.__func__  # type: ignore[attr-defined]

    def fetch(cls: Any, *args: Any, **kwargs: Any) -> Any:
        result = original_fetch(cls, *args, **kwargs)
        _dequeue_marks.append(("job process: job fetched", time.time()))
        return result

    Queue._fetch_dequeued_job = classmethod(fetch)  # type: ignore[method-assign,assignment]
    _timed(BaseWorker, "prepare_execution", "job process: prepare_execution")
    _timed(Job, "perform", "job process: job.perform", end=False)
    _timed(worker.jobs, "resume", "job: resume", end=False)
    _timed(Requests, "get", "store.requests.get")
    _timed(Runs, "set_status", "store.runs.set_status")
    _timed(Requests, "mark_resumed", "store.requests.mark_resumed")
    _timed(Pregel, "get_state", "graph.get_state")
    _timed(Pregel, "invoke", "graph.invoke", end=False)

    original_session = KeptCheckpointer.session

    @contextmanager
    def session(self: Any) -> Iterator[Any]:
        mark("checkpointer>")
        with original_session(self) as saver:
            mark("checkpointer<")
            yield saver

    KeptCheckpointer.session = session  # type: ignore[method-assign,assignment]

    # Inside the graph: when each step's tasks start (the HITL middleware re-runs, then the tools).
    _wrap_node_starts()
    _mark_sql()
    _mark_gc()


def _mark_gc() -> None:
    """Marks around each garbage collection of generation 1 or 2 (generation 0 ones are too many and short)."""
    import gc

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if info.get("generation", 0) >= 1:
            mark(f"    gc gen{info['generation']} " + (">" if phase == "start" else "<"))

    gc.callbacks.append(on_gc)


def _mark_sql() -> None:
    """Marks around the approval store's SQL: opening a connection (with its PRAGMAs) and each statement."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    _timed(Engine, "connect", "  sql: engine.connect")
    _timed(Engine, "begin", "  sql: engine.begin", end=False)

    def before_connect_listeners(dbapi_connection: Any, record: Any) -> None:
        mark("  sql: dbapi connected, PRAGMAs>")

    def after_connect_listeners(dbapi_connection: Any, record: Any) -> None:
        mark("  sql: PRAGMAs<")

    event.listen(Pool, "connect", before_connect_listeners, insert=True)
    event.listen(Pool, "connect", after_connect_listeners)

    def before_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        mark("  sql> " + " ".join(statement.split()[:4])[:40])

    def after_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        mark("  sql< " + " ".join(statement.split()[:4])[:40])

    event.listen(Engine, "before_cursor_execute", before_execute)
    event.listen(Engine, "after_cursor_execute", after_execute)


def _wrap_node_starts() -> None:
    """Mark the start of each task LangGraph runs (via its sync runner's `tick`)."""
    try:
        from langgraph.pregel._runner import PregelRunner
    except ImportError:  # layout differs across versions: skip the finer marks
        return
    original_tick: Callable[..., Any] = PregelRunner.tick

    @functools.wraps(original_tick)
    def tick(self: Any, tasks: Any, *args: Any, **kwargs: Any) -> Any:
        tasks = list(tasks)
        mark("langgraph tick: " + ",".join(sorted(str(t.name) for t in tasks)))
        return original_tick(self, tasks, *args, **kwargs)

    PregelRunner.tick = tick  # type: ignore[method-assign]
