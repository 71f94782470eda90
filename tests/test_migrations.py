"""Only `countersign migrate` changes the schema: idempotent, safe from many processes at once, and a
database made by release a43d289 keeps its pending requests. The bot and worker never create tables."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, insert

from approvals.models import Decision, DecisionType, utcnow
from approvals.schema import SchemaNotCurrent, check_schema, head_revision
from approvals.settings import Settings
from approvals.store import Store, create_db_engine
from approvals.tables import metadata
from bot.slack_places import Posted, SlackPlaces
from countersign.migrate import migrate
from sandbox.emulator import SlackEmulator
from tests import legacy_schema
from tests.databases import fresh_database
from tests.forkserver import ForkedProcess, ForkServer
from tests.stack import REPO_ROOT, free_port, wait_until


@pytest.fixture
def fresh_url(tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new schema in TEST_DATABASE_URL's PostgreSQL."""
    with fresh_database(tmp_path, "fresh") as url:
        yield url


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COUNTERSIGN_", "DATABASE_", "REDIS_"))}
    return env | {
        "DATABASE_URL": url,
        "PYTHONPATH": str(REPO_ROOT),
        "COUNTERSIGN_AGENTS": "tests.agents:AGENTS",
        **extra,
    }


def test_migrate_builds_exactly_the_schema_the_code_reads(fresh_url: str) -> None:
    migrate(Settings(database_url=fresh_url))

    engine = create_db_engine(Settings(database_url=fresh_url).sqlalchemy_url)
    with engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    ours = [d for d in drift if "countersign_" in str(d)]
    assert ours == []
    check_schema(engine)


def test_migrate_again_changes_nothing(fresh_url: str) -> None:
    migrate(Settings(database_url=fresh_url))

    assert migrate(Settings(database_url=fresh_url)) == (
        f"countersign migrate: the database is at revision {head_revision()}, nothing to do"
    )


def test_database_made_by_release_a43d289_migrates_with_its_pending_request_intact(fresh_url: str) -> None:
    settings = Settings(database_url=fresh_url)
    engine = create_db_engine(settings.sqlalchemy_url)
    legacy_schema.metadata.create_all(engine)
    now = utcnow()
    gate = {"rule": "old rule", "level": "hard", "timeout": "4h", "reminders": ["1h"]}
    with engine.begin() as conn:
        _legacy_pending_request(conn, "a" * 32, "t-legacy", "1", gate, now, requested_by="U0OLD")
    with pytest.raises(SchemaNotCurrent, match="run `countersign migrate`"):
        check_schema(engine)

    line = migrate(settings)

    assert line == f"countersign migrate: upgraded the database from 0001 to revision {head_revision()}"
    store = Store(engine)
    pending = store.requests.get("a" * 32)
    assert pending.is_pending and pending.action.args == {"order_id": "1", "amount": 250.0}
    assert pending.run.requested_by == "U0OLD" and pending.deadline_at is not None
    # Its reminder lived only in Redis before: now it is owed in SQL.
    assert store.due.next_due() == pending.deadline_at - timedelta(hours=1)
    assert store.decisions.decide(pending.id, Decision(type=DecisionType.APPROVE, decided_by="U0NEW")).completed
    assert store.due.resumes_owed(utcnow()) == [pending.id]


def test_a_request_posted_before_placements_keeps_its_slack_message_thread_and_shown_time(fresh_url: str) -> None:
    settings = Settings(database_url=fresh_url)
    engine = create_db_engine(settings.sqlalchemy_url)
    legacy_schema.metadata.create_all(engine)
    now = utcnow()
    gate = {"rule": "old rule", "level": "hard", "timeout": "4h"}
    with engine.begin() as conn:
        posted = {"slack_channel": "C0OLD", "slack_thread_ts": "2.000200"}
        _legacy_pending_request(conn, "b" * 32, "t-posted", "2", gate, now, message_ts="2.000200", **posted)

    migrate(settings)

    store = Store(engine)
    places = SlackPlaces(store)
    request = store.requests.get("b" * 32)
    assert places.request(request.id) == Posted("C0OLD", "2.000200")
    assert places.thread("t-posted") == Posted("C0OLD", "2.000200")
    assert request.channel == "C0OLD" and request.shown_at is not None


def _legacy_pending_request(
    conn: Connection,
    approval_id: str,
    thread_id: str,
    order: str,
    gate: dict[str, Any],
    now: datetime,
    *,
    message_ts: str = "1.000100",
    **run: str,
) -> None:
    """A run waiting on a posted refund request, as release a43d289 stored them (`run`: more of the run's columns)."""
    conn.execute(
        insert(legacy_schema.runs).values(
            thread_id=thread_id,
            agent="payments",
            input_text=f"Refund order #{order} for $250",
            status="waiting",
            created_at=now,
            updated_at=now,
            **run,
        )
    )
    conn.execute(
        insert(legacy_schema.approvals).values(
            id=approval_id,
            thread_id=thread_id,
            interrupt_id=uuid.uuid4().hex,
            kind="langchain_hitl",
            agent_message="",
            gate=gate,
            status="pending",
            channel="C0OLD",
            message_ts=message_ts,
            deadline_at=now + timedelta(hours=4),
            stage=0,
            timeout_action="reject",
            created_at=now,
        )
    )
    conn.execute(
        insert(legacy_schema.approval_actions).values(
            approval_id=approval_id,
            position=0,
            tool="refund",
            args={"order_id": order, "amount": 250.0},
            description="",
            allowed_decisions=["approve", "edit", "reject"],
        )
    )


@pytest.mark.slow
def test_many_migrates_at_once_on_an_empty_database_all_succeed(fresh_url: str, fork_server: ForkServer, tmp_path: Path) -> None:
    logs = [tmp_path / f"migrate-{n}.log" for n in range(3)]
    processes = [fork_server.start(["migrate"], _env(fresh_url), log) for log in logs]
    codes = [process.wait(timeout=120) for process in processes]
    outputs = [log.read_text() for log in logs]

    assert codes == [0] * 3, outputs
    assert sum("upgraded the database from empty" in output for output in outputs) == 1
    check_schema(create_db_engine(Settings(database_url=fresh_url).sqlalchemy_url))


@pytest.mark.parametrize("command", ["bot", "worker"])
def test_a_process_on_a_database_that_is_behind_stops_with_one_line(
    fresh_url: str, command: str, valkey: str, fork_server: ForkServer
) -> None:
    env = _env(fresh_url, REDIS_URL=valkey, SLACK_SIGNING_SECRET="s", SLACK_BOT_TOKEN="xoxb-t", PORT=str(free_port()))

    done = fork_server.run([command], env)

    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "countersign: DATABASE_URL: the database has no Countersign tables yet: run `countersign migrate`"
    )


@pytest.mark.slow
def test_bot_with_four_processes_and_worker_started_together_all_serve(
    fresh_url: str, valkey: str, slack: SlackEmulator, fork_server: ForkServer, tmp_path: Path
) -> None:
    # One round here; bench/chaos.py starts them together twenty times.
    migrate(Settings(database_url=fresh_url))
    port = free_port()
    env = _env(
        fresh_url,
        REDIS_URL=valkey,
        SLACK_SIGNING_SECRET="s",
        SLACK_BOT_TOKEN="xoxb-t",
        PORT=str(port),
        SLACK_API_URL=slack.base_url,
        WEB_CONCURRENCY="4",
        COUNTERSIGN_QUEUE=f"start-{uuid.uuid4().hex[:6]}",
    )
    processes = [fork_server.start([name], env, tmp_path / f"{name}.log") for name in ("bot", "worker")]

    def logs() -> str:
        return "\n".join(f"--- {n}.log\n" + (tmp_path / f"{n}.log").read_text()[-3000:] for n in ("bot", "worker"))

    try:
        try:
            wait_until(lambda: _serving(port) or _exited(processes), 60, "the bot to serve")
            wait_until(lambda: "worker ready" in (tmp_path / "worker.log").read_text() or _exited(processes), 60, "the worker")
        except TimeoutError as error:
            raise AssertionError(f"{error}\n{logs()}") from None
        assert [process.poll() for process in processes] == [None, None], logs()
        assert "Worker failed to boot" not in (tmp_path / "bot.log").read_text(), logs()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def _serving(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _exited(processes: list[ForkedProcess]) -> bool:
    return any(process.poll() is not None for process in processes)
