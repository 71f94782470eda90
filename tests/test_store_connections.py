"""The store's PostgreSQL connections: pinged before use only after sitting idle, and a dropped one is
replaced rather than failing the store's next call (against TEST_DATABASE_URL's PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text

from approvals import approval_store
from approvals.approval_store import create_db_engine
from approvals.settings import Settings
from worker.checkpointer import postgres_conninfo


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    if not settings.is_postgres:
        pytest.skip("PostgreSQL only: a SQLite file has no connection to lose")
    engine = create_db_engine(settings.sqlalchemy_url)
    yield engine
    engine.dispose()


def _pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    pings: list[object] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(conn) or ping(conn))
    return pings


def test_a_connection_back_in_the_pool_a_moment_ago_is_used_without_a_ping(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = _pings(engine, monkeypatch)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))

    for _ in range(5):
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    assert len(pings) == 1  # the new connection's first checkout only


def test_a_connection_idle_past_the_limit_is_pinged_first(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = _pings(engine, monkeypatch)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    monkeypatch.setattr(approval_store, "PING_AFTER_IDLE_SECONDS", 0.0)

    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))

    assert len(pings) == 2


def test_a_connection_the_server_dropped_while_idle_is_replaced(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.connect() as conn:
        dropped = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with psycopg.connect(postgres_conninfo(settings.database_url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (dropped,))
    monkeypatch.setattr(approval_store, "PING_AFTER_IDLE_SECONDS", 0.0)  # as after a second in the pool

    with engine.connect() as conn:
        now_on = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()

    assert now_on != dropped
