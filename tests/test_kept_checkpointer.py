"""A job process keeps one checkpointer connection across its jobs, and replaces it when in doubt
(against the session's real database: SQLite, or PostgreSQL under TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import sqlite3

import psycopg
import pytest

from approvals.settings import Settings
from worker import checkpointer
from worker.checkpointer import KeptCheckpointer, open_checkpointer

# The checkpoint tables are made by `countersign migrate`, as the store fixture runs it.
pytestmark = pytest.mark.usefixtures("store")

CONFIG = {"configurable": {"thread_id": "kept-checkpointer", "checkpoint_ns": ""}}


def test_the_jobs_of_a_process_share_one_checkpointer(settings: Settings) -> None:
    kept = KeptCheckpointer(settings)
    try:
        with kept.session() as first:
            first.get_tuple(CONFIG)
        with kept.session() as second:
            second.get_tuple(CONFIG)

        assert second is first
    finally:
        kept.close()


def test_a_job_that_failed_leaves_the_next_one_a_fresh_connection(settings: Settings) -> None:
    kept = KeptCheckpointer(settings)
    try:
        with pytest.raises(RuntimeError), kept.session() as failed:
            raise RuntimeError("the job failed half-way")
        with kept.session() as next_job:
            assert next_job.get_tuple(CONFIG) is None

        assert next_job is not failed
        with pytest.raises((sqlite3.ProgrammingError, psycopg.OperationalError)):
            failed.get_tuple(CONFIG)  # closed: nothing uses the doubtful connection again
    finally:
        kept.close()


def test_a_forked_process_opens_its_own_connection(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    kept = KeptCheckpointer(settings)
    try:
        with kept.session() as parents:
            parents.get_tuple(CONFIG)
        parent = os.getpid()
        monkeypatch.setattr(os, "getpid", lambda: parent + 1)  # as in the child of a fork
        with kept.session() as childs:
            childs.get_tuple(CONFIG)
        monkeypatch.undo()

        assert childs is not parents
        assert parents.get_tuple(CONFIG) is None  # the parent's connection was left open for the parent
    finally:
        kept.close()


def test_a_postgresql_connection_the_server_dropped_while_idle_is_replaced_before_the_next_job(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not settings.is_postgres:
        pytest.skip("PostgreSQL only: a SQLite file has no server to drop the connection")
    kept = KeptCheckpointer(settings)
    try:
        with kept.session() as first:
            first.get_tuple(CONFIG)
            backend = first.conn.info.backend_pid  # type: ignore[union-attr]
        with open_checkpointer(settings) as other:
            other.conn.execute("SELECT pg_terminate_backend(%s)", (backend,))  # type: ignore[union-attr]
        monkeypatch.setattr(checkpointer, "PING_AFTER_IDLE_SECONDS", 0.0)  # as after a second between jobs

        with kept.session() as second:
            assert second.get_tuple(CONFIG) is None

        assert second is not first
    finally:
        kept.close()
