"""On SQLite, the worker's own commits reach the disk with the next commit that must: a tool call's start in
the journal is flushed before the tool runs (and with it everything before it), and every commit of the bot,
which answers people, is flushed. A killed process loses no commit either way (they are in the file); only a
power cut could lose unflushed ones, whose steps are run again, and never a tool call's start.

SQLite's `PRAGMA synchronous` says which: FULL flushes the log at each commit, NORMAL leaves it to the
operating system (bench/RESULTS.md, "Where the CPU goes", counts the flushes with strace)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text

from approvals.runs import RunRequest, start_run
from approvals.settings import Settings
from approvals.store import Store
from bot.server import bot_store
from countersign.wiring import build_services
from worker.checkpointer import open_checkpointer

FULL, NORMAL = 2, 1  # what `PRAGMA synchronous` reads


@pytest.fixture
def sqlite_settings(private_settings: Settings) -> Settings:
    if private_settings.is_postgres:
        pytest.skip("SQLite only: PostgreSQL flushes every commit itself")
    return private_settings


@contextmanager
def synchronous_of_writes(store: Store) -> Iterator[list[tuple[str, int]]]:
    """Each INSERT, UPDATE or DELETE the store runs, with the `synchronous` level its connection had then."""
    seen: list[tuple[str, int]] = []

    def note(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().split(" ", 1)[0] in {"INSERT", "UPDATE", "DELETE"}:
            seen.append((statement, cursor.connection.execute("PRAGMA synchronous").fetchone()[0]))

    event.listen(store.db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(store.db.engine, "before_cursor_execute", note)


def test_a_tool_calls_start_is_flushed_to_disk_before_the_tool_runs(sqlite_settings: Settings) -> None:
    runtime = build_services(sqlite_settings.model_copy(update={"countersign_agents": "tests.agents:AGENTS"})).runtime
    request = RunRequest(agent="payments", input_text="Refund order #4242 for $25", requested_by="U0ASKER")
    start_run(request, runtime.store, None)

    with synchronous_of_writes(runtime.store) as seen:
        assert runtime.advance(request.thread_id) == "waiting"  # looked the order up, paused before the refund

    starts = [level for statement, level in seen if "INSERT INTO countersign_tool_calls" in statement]
    others = [level for statement, level in seen if "countersign_tool_calls" not in statement]
    assert starts == [FULL]  # `lookup_order`'s start, before its body ran
    assert others and set(others) == {NORMAL}  # the run's lease, its request, the lookup's result...


def test_the_workers_checkpoints_wait_for_the_next_flushed_commit(sqlite_settings: Settings) -> None:
    with open_checkpointer(sqlite_settings) as saver:
        assert saver.conn.execute("PRAGMA synchronous").fetchone()[0] == NORMAL  # type: ignore[union-attr]


def test_every_commit_of_the_bot_is_flushed(sqlite_settings: Settings) -> None:
    store = bot_store(sqlite_settings)

    with store.db.writing() as conn:
        level = conn.execute(text("PRAGMA synchronous")).scalar()

    assert level == FULL
