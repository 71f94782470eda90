"""Real parts for the tests: a Valkey server, a database, the Slack emulator, the bot and worker processes,
and for the page tests `countersign dev`'s sandbox with a headless Chromium."""

from __future__ import annotations

import sys

# Cache compiled bytecode even where the environment says not to (PYTHONDONTWRITEBYTECODE, as this
# machine's image sets): pytest rewrites the asserts of every module of each pytest plugin's package
# (langsmith's 224 modules among them) and, without a cache, does it again in every test process,
# about 5 s of CPU each. Set before the imports below, so they are cached too.
sys.dont_write_bytecode = False

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from countersign.embedded_valkey import start_valkey
from tests.forkserver import ForkServer

# The rest is imported by the fixtures that use it: under xdist this module is imported by the process
# that only hands out tests too, and importing LangChain, SQLAlchemy and Alembic there held up the
# start of the test processes by more than a second.
if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    from approvals.job_queue import JobQueue
    from approvals.settings import Settings
    from approvals.store import Store
    from sandbox.emulator import SlackEmulator
    from tests.local import Local
    from tests.sandbox_stack import DevSandbox
    from tests.stack import Stack

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
APPROVALS_CHANNEL = "C0APPROVALS"


class Valkey:
    """A real Valkey (Redis protocol) on a free port, with a password, which a test may stop and start again
    on that port with that password (coming back empty, as a Redis without persistence does)."""

    def __init__(self) -> None:
        self.server = start_valkey()
        self.port = self.server.port
        self.password = self.server.password
        self.url = self.server.connection_url
        self.paused_pid: int | None = None

    def stop(self) -> None:
        """Take the server down (clients get connection errors)."""
        self.unpause()  # a stopped process would not act on the signal that ends it
        self.server.stop()

    def start(self) -> None:
        """Bring a fresh, empty server up on the same port."""
        self.server = start_valkey(self.port, self.password)

    def pause(self) -> None:
        """Freeze the server: it still accepts connections but answers nothing (a hung Redis)."""
        from redis import Redis

        self.paused_pid = int(Redis.from_url(self.url).info("server")["process_id"])
        os.kill(self.paused_pid, signal.SIGSTOP)

    def unpause(self) -> None:
        """Let a paused server answer again, with all it held."""
        if self.paused_pid is not None:
            os.kill(self.paused_pid, signal.SIGCONT)
            self.paused_pid = None


@pytest.fixture(scope="session")
def valkey_server() -> Iterator[Valkey]:
    """The session's Valkey, for the tests that take it down."""
    server = Valkey()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def valkey(valkey_server: Valkey) -> str:
    """The URL of the session's Valkey."""
    return valkey_server.url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh schema in TEST_DATABASE_URL's PostgreSQL when set, else a fresh SQLite file."""
    from tests.databases import fresh_database

    with fresh_database(tmp_path_factory.mktemp("db"), "test") as url:
        yield url


@pytest.fixture(scope="session")
def slack() -> Iterator[SlackEmulator]:
    """The loopback Slack Web API emulator. Everyone the tests act as is in the approvals channel, as in a
    workspace's #general (requests whose rule names no approvers are decided by their channel's members);
    a test about who may decide posts to a channel of its own with the members it names."""
    from sandbox.emulator import Channel, SlackEmulator

    with SlackEmulator(channels=[Channel(APPROVALS_CHANNEL, "approvals", everyone=True)]) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def settings(valkey: str, database_url: str, slack: SlackEmulator) -> Settings:
    """Settings pointing every part at the test's Valkey, database and emulator."""
    from approvals.settings import Settings

    return Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.base_url,
        approvals_channel=APPROVALS_CHANNEL,
        redis_url=valkey,
        database_url=database_url,
    )


@pytest.fixture(scope="session")
def store(settings: Settings) -> Store:
    """The approval store the processes share, opened from the test (after `countersign migrate`, as a deploy does)."""
    from approvals.store import Store, create_db_engine
    from countersign.migrate import migrate

    migrate(settings)
    return Store(create_db_engine(settings.sqlalchemy_url))


@pytest.fixture(scope="session")
def queue(settings: Settings) -> JobQueue:
    """The job queue, as the bot and CLI use it."""
    from redis import Redis

    from approvals.job_queue import JobQueue

    return JobQueue(Redis.from_url(settings.redis_url or ""), settings.countersign_queue, settings.run_timeout)


@pytest.fixture(scope="session")
def fork_server() -> Iterator[ForkServer]:
    """Starts `countersign` processes as forks of one that has imported their libraries (tests/forkserver.py)."""
    server = ForkServer(Path(__file__).resolve().parent.parent)
    yield server
    server.close()


@pytest.fixture(scope="session")
def stack(
    settings: Settings,
    slack: SlackEmulator,
    store: Store,
    queue: JobQueue,
    fork_server: ForkServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The real worker and bot processes (`countersign worker`, `countersign bot`), started once (and again
    by the tests that kill them)."""
    from tests.stack import Stack

    logs = Path(tmp_path_factory.mktemp("logs"))
    with Stack.start(settings, slack, store, queue, logs, SIGNING_SECRET, fork_server) as running:
        yield running


@pytest.fixture(scope="session")
def dev_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevSandbox]:
    """`countersign dev` without Slack settings: the sandbox page, a real bot and a real worker."""
    from tests.sandbox_stack import DevSandbox

    with DevSandbox.start(Path(tmp_path_factory.mktemp("sandbox"))) as running:
        yield running


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """One headless Chromium for the session (skipped without one, except under .ci/run)."""
    from tests.sandbox_stack import browser_context

    with browser_context(Path(tmp_path_factory.mktemp("chromium"))) as context:
        yield context


@pytest.fixture
def page(dev_sandbox: DevSandbox, browser: BrowserContext) -> Iterator[Page]:
    """A fresh tab on the sandbox page, once its bot and worker are ready."""
    dev_sandbox.wait_ready()
    tab = browser.new_page()
    tab.goto(dev_sandbox.url)
    yield tab
    tab.close()


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database of the test's own, with nothing in it: a new SQLite file, or a new schema in
    TEST_DATABASE_URL's PostgreSQL."""
    from tests.databases import fresh_database

    with fresh_database(tmp_path, "empty") as url:
        yield url


@pytest.fixture
def empty_store(empty_database_url: str) -> Iterator[Store]:
    """A store on a database of the test's own, migrated and empty (for tests that count everything in it)."""
    from approvals.settings import Settings
    from approvals.store import Store, create_db_engine
    from countersign.migrate import migrate

    settings = Settings(database_url=empty_database_url)
    migrate(settings)
    engine = create_db_engine(settings.sqlalchemy_url)
    yield Store(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def private_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The session's settings on a database and a queue of their own (migrated), for tests that drive the
    worker's runtime by hand: the stack's worker must not take their runs up first."""
    from countersign.migrate import migrate
    from tests.databases import fresh_database

    with fresh_database(tmp_path_factory.mktemp("private"), "private") as url:
        private = settings.model_copy(update={"database_url": url, "countersign_queue": f"private-{uuid.uuid4().hex[:8]}"})
        migrate(private)
        yield private


@pytest.fixture(scope="session")
def local_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The in-process tier's own database: a fresh SQLite file, or a fresh schema in TEST_DATABASE_URL."""
    from tests.databases import fresh_database

    with fresh_database(tmp_path_factory.mktemp("localdb"), "local") as url:
        yield url


@pytest.fixture(scope="session")
def local_countersign_session(
    settings: Settings, slack: SlackEmulator, local_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Local]:
    """Countersign's runtime and Bolt app in this process (tests/local.py), built once."""
    from tests.local import local_countersign

    os.environ.setdefault("COUNTERSIGN_TEST_EFFECTS", str(tmp_path_factory.mktemp("local-effects")))
    with local_countersign(settings, slack, local_database_url, SIGNING_SECRET) as local:
        yield local


@pytest.fixture
def local(local_countersign_session: Local) -> Iterator[Local]:
    """The in-process tier, with no policy rules and the clock at now, for one test."""
    local_countersign_session.policies()
    local_countersign_session.clock.reset()
    yield local_countersign_session


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one test process more than the cores (`--maxprocesses` caps it)."""
    # A quarter of the suite's time is spent waiting on the processes the tests start (a worker's
    # lease, a bot coming up); a third test process on 2 cores fills it (42-45 s against 46-48 s).
    return (os.cpu_count() or 1) + 1


# Under xdist, the tests of one session-wide set of processes share a test process, so each set starts once.
_SHARED_PROCESSES = {"stack": "stack", "dev_sandbox": "sandbox"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, group in _SHARED_PROCESSES.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(group))
                break
    # xdist hands the groups out first (the most tests first), then the other tests in this order: the
    # slow ones go first, so that none of them is left running alone at the end while the other test
    # processes have nothing more to do.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
