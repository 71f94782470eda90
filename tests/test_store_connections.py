"""The store's PostgreSQL connections: pinged before use only after sitting idle, and a dropped one is
replaced rather than failing the store's next call (against TEST_DATABASE_URL's PostgreSQL); a server
that never answers is given up on, by the store and by a job's checkpointer alike (no server needed); the
bot keeps a connection for each of its listener threads."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError

from approvals import postgres_timeouts
from approvals.settings import Settings
from approvals.store import create_db_engine, database
from bot.app import LISTENER_THREADS
from bot.server import bot_store
from worker.checkpointer import open_checkpointer, postgres_conninfo


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
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)

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
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)  # as after a second in the pool

    with engine.connect() as conn:
        now_on = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()

    assert now_on != dropped


@pytest.fixture
def silent_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """host:port of a server that takes connections and never says a word; connections give up on it
    after 2 s here (libpq's shortest), not the 10 s they wait in production."""
    monkeypatch.setattr(postgres_timeouts, "CONNECT_TIMEOUT_SECONDS", 2)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def test_the_store_gives_up_on_a_database_server_that_never_answers(silent_server: str) -> None:
    engine = create_db_engine(f"postgresql+psycopg://countersign@{silent_server}/countersign")
    started = time.monotonic()

    with pytest.raises(OperationalError, match="timeout"):
        engine.connect()

    assert time.monotonic() - started < 5


def test_a_jobs_checkpointer_gives_up_on_a_database_server_that_never_answers(silent_server: str) -> None:
    settings = Settings(database_url=f"postgresql://countersign@{silent_server}/countersign")
    started = time.monotonic()

    with pytest.raises(psycopg.OperationalError, match="timeout"), open_checkpointer(settings):
        pass

    assert time.monotonic() - started < 5


def test_a_database_url_that_sets_its_own_timeouts_keeps_them() -> None:
    engine = create_db_engine("postgresql+psycopg://u@db/x?connect_timeout=3")
    store_params: dict[str, object] = {}

    @event.listens_for(engine, "do_connect")
    def _capture(_dialect: object, _record: object, _args: object, params: dict[str, object]) -> None:
        store_params.update(params)
        raise ConnectionAbortedError("captured")  # no connection is made

    with pytest.raises(ConnectionAbortedError):
        engine.connect()
    checkpointer_params = psycopg.conninfo.conninfo_to_dict(postgres_conninfo("postgresql://u@db/x?connect_timeout=3"))

    for params in (store_params, checkpointer_params):
        assert str(params["connect_timeout"]) == "3"
        assert str(params["tcp_user_timeout"]) == str(postgres_timeouts.TCP_USER_TIMEOUT_MS)


def test_the_bots_store_opens_no_connection_for_a_second_burst_as_wide_as_its_listener_threads(
    settings: Settings,
) -> None:
    engine = bot_store(settings).db.engine
    opened: list[object] = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    together = threading.Barrier(LISTENER_THREADS)

    def use_a_connection(_: int) -> None:
        with engine.connect() as conn:
            together.wait(10)  # every thread holds its connection at the same time
            conn.execute(text("SELECT 1"))

    bursts = []
    for _ in range(2):
        with ThreadPoolExecutor(LISTENER_THREADS) as threads:
            list(threads.map(use_a_connection, range(LISTENER_THREADS)))
        bursts.append(len(opened))
    engine.dispose()

    assert bursts == [LISTENER_THREADS, LISTENER_THREADS]  # the first burst opened them all; the second, none


def test_the_bot_loads_no_postgresql_driver_until_it_connects_to_postgresql() -> None:
    # psycopg and its libpq are some 10 MB of RSS in each of the bot's processes, which on SQLite never use it.
    script = "import sys, bot.server; print('psycopg' in sys.modules)"

    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)

    assert loaded.stdout.strip() == "False"
