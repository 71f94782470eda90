"""The running system under test: `countersign worker` and `countersign bot` as real processes.

Tests act as Slack (signed HTTP requests through `SlackDriver`) and read what the app did
from the Slack emulator and the store.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from approvals.job_queue import JobQueue
from approvals.models import API_KIND, ApprovalRequest
from approvals.runs import RunRequest, start_run
from approvals.settings import Settings
from approvals.store import Store
from bot.ids import ActionId, BlockId
from bot.metadata import ApprovalRef
from bot.slack_places import Posted, SlackPlaces
from countersign.ports import free_port
from sandbox.driver import Response, SlackDriver, plain_text_value
from sandbox.emulator import Call, SlackEmulator
from tests.forkserver import ForkedProcess, ForkServer

T = TypeVar("T")
# A `countersign` process: started by Popen, or forked by a fork server.
Process = subprocess.Popen[bytes] | ForkedProcess
REPO_ROOT = Path(__file__).resolve().parents[1]


def is_running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(check: Callable[[], T | None], timeout: float = 20.0, what: str = "condition", interval: float = 0.02) -> T:
    """Poll `check` every `interval` seconds until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def children_of(pid: int) -> list[int]:
    """Pids of a process's children (Linux /proc)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def descendants_of(pid: int) -> list[int]:
    """Pids of a process's children, their children, and so on (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        children = children_of(todo.pop())
        found += children
        todo += children
    return found


def process_env(settings: Settings, port: int) -> dict[str, str]:
    """The environment a `countersign` process reads its settings from."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COUNTERSIGN_"))}
    env.update(
        SLACK_BOT_TOKEN=settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else "",
        SLACK_SIGNING_SECRET=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else "",
        SLACK_API_URL=settings.slack_api_url,
        APPROVALS_CHANNEL=settings.approvals_channel or "",
        REDIS_URL=settings.redis_url or "",
        DATABASE_URL=settings.database_url,
        PORT=str(port),
        WEB_CONCURRENCY="2",
        PYTHONUNBUFFERED="1",
        COUNTERSIGN_AGENTS="tests.agents:AGENTS",
        COUNTERSIGN_POLICIES=str(REPO_ROOT / "tests" / "policies.yml"),
        COUNTERSIGN_ADMINS="U0ADMIN,@countersign-admins",
        # One job process, so "kill the job process" means the one running the job.
        COUNTERSIGN_WORKER_PROCESSES="1",
        # The shortest leases and frequent dispatcher passes, so a killed worker's run is taken up again
        # within seconds (the defaults are 10 s and 1 s).
        COUNTERSIGN_LEASE_SECONDS="2",
        COUNTERSIGN_DISPATCH_INTERVAL="0.25",
        # Tests create user groups as they go, so the processes remember none (tests/test_user_groups.py
        # covers the cache).
        COUNTERSIGN_USERGROUP_CACHE_SECONDS="0",
        # Likewise channels' members (tests/test_who_sees_a_request.py covers the cache).
        COUNTERSIGN_CHANNEL_MEMBERS_CACHE_SECONDS="0",
        # The processes run five hours off UTC: every time they show must still be right.
        TZ="America/New_York",
        # No worker /metrics unless a test asks for one (several workers may run on this machine at once).
        COUNTERSIGN_METRICS_PORT="0",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    )
    return env


class SlackUser:
    """Acting and waiting as people in Slack do, against a bot reached by `driver`, with what the app did
    read from the Slack emulator and the store. `Stack` (real processes) and `tests.local.Local` (in this
    process) both provide `driver`, `slack`, `store` and `queue`."""

    driver: SlackDriver
    slack: SlackEmulator
    store: Store
    queue: JobQueue
    effects: Path

    def effects_of(self, kind: str) -> list[str]:
        """What an effect tool of tests/agents.py recorded doing (`orders`, `transfers`, `refunds`)."""
        record = self.effects / kind
        return record.read_text().split() if record.exists() else []

    def refunds_of(self, order_id: str) -> int:
        """How many times the effect agent's refund tool ran for an order."""
        record = self.effects / "refunds"
        return record.read_text().split().count(order_id) if record.exists() else 0

    # Acting

    def home_showing(self, user: str, approval_id: str) -> dict:
        """Open `user`'s Home tab and turn its pages (Next) until it shows the request: the session's channel holds
        other tests' pending requests, which may fill the first page."""

        def for_user(call: Call) -> bool:
            return call.params.get("user_id") == user

        published = len([c for c in self.slack.calls_to("views.publish") if for_user(c)])
        self.driver.event({"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"})
        for _ in range(100):
            self.slack.wait_for("views.publish", for_user, count=published + 1)
            published += 1
            home = self.slack.home_view(user)
            if approval_id in json.dumps(home):
                return home
            pages = next(b for b in home["blocks"] if b.get("block_id") == BlockId.HOME_PAGES)
            turn = next(e for e in pages["elements"] if e["text"]["text"].startswith("Next"))
            self.driver.home_action(user, ActionId.HOME_PAGE, turn["value"], view=home)
        raise AssertionError(f"{user}'s Home tab never showed {approval_id}")

    def start_run(
        self, text: str = "Refund order #42 for $250", user: str = "U0ASKER", agent: str = "payments"
    ) -> ApprovalRequest:
        """Enqueue a run as `countersign run` does and wait for its approval request in Slack."""
        request = RunRequest(agent=agent, input_text=text, requested_by=user, reply_channel="C0ASKED")
        start_run(request, self.store, self.queue)
        return self.wait_for_request(request.thread_id)

    def wait_for_request(self, thread_id: str, count: int = 1, timeout: float = 30) -> ApprovalRequest:
        """The `count`-th approval request of a run, once it is posted in Slack and noted as shown."""

        def posted() -> ApprovalRequest | None:
            requests = self.store.lists.requests_for_thread(thread_id)
            if len(requests) >= count and requests[count - 1].shown_at and self.posted(requests[count - 1]):
                return requests[count - 1]
            return None

        return wait_until(posted, timeout, f"approval request #{count} of run {thread_id}")

    def posted(self, approval: ApprovalRequest, stage: int = 0) -> Posted | None:
        """Where Slack shows the request (first posted, or re-posted at an escalation stage), once it does."""
        return SlackPlaces(self.store).request(approval.id, stage)

    def asked_over_the_api(self, order_id: str, timeout: float = 30) -> ApprovalRequest:
        """The pending API request for a refund of this order (asked on another thread), once Slack shows it."""

        def find() -> ApprovalRequest | None:
            for request in self.store.lists.pending(limit=200):
                if request.kind == API_KIND and request.action.args.get("order_id") == order_id and self.posted(request):
                    return request
            return None

        return wait_until(find, timeout, f"the API request for order {order_id} in Slack")

    def ts_of(self, approval: ApprovalRequest) -> str:
        """The ts of the request's first message (which its thread hangs from)."""
        posted = self.posted(approval)
        assert posted is not None, f"request {approval.id} is not posted"
        return posted.ts

    def thread_of(self, approval: ApprovalRequest) -> Posted | None:
        """The Slack thread of the request's run."""
        return SlackPlaces(self.store).thread(approval.thread_id)

    def permalink_of(self, approval: ApprovalRequest) -> str | None:
        """The link to the request's first message."""
        return SlackPlaces(self.store).permalinks([approval.id]).get(approval.id)

    def message(self, approval: ApprovalRequest) -> dict[str, Any]:
        """The request's message as Slack holds it now."""
        posted = self.posted(approval)
        assert posted is not None
        return self.slack.message(posted.channel, posted.ts)

    def click(
        self, user: str, action: ActionId, approval: ApprovalRequest, position: int | None = None, **kwargs: Any
    ) -> Response:
        """A signed click on one of the request message's buttons: one call's (`position`), or the whole request's."""
        posted = self.posted(approval)
        assert posted is not None
        return self.driver.block_action(
            user,
            action,
            # As the message shows it: the revision of the request `approval` was read at.
            ApprovalRef(approval_id=approval.id, action=position, rev=approval.revision).dump(),
            channel_id=posted.channel,
            container_message_ts=posted.ts,
            message=self.message(approval),
            **kwargs,
        )

    def answer(self, user: str, action: ActionId, approval: ApprovalRequest, text: str) -> Response:
        """Click Reject or Reply, type `text` in the modal, and submit it."""
        view = self.open_modal(user, action, approval).response["view"]
        values = {BlockId.REJECT_REASON: {ActionId.REJECT_REASON: plain_text_value(text)}}
        return self.driver.view_submission(user, view, values)

    def open_modal(self, user: str, action: ActionId, approval: ApprovalRequest) -> Call:
        """Click a button that opens a modal, and return the `views.open` call it made."""
        response = self.click(user, action, approval)
        assert response.status == 200, response.body
        trigger_id = response.payload["trigger_id"] if response.payload else None
        return self.slack.wait_for("views.open", lambda call: call.params.get("trigger_id") == trigger_id)

    def wait_for_update(self, approval: ApprovalRequest, predicate: Callable[[Call], bool] = lambda c: True) -> Call:
        """The `chat.update` the bot made to the request's message."""
        return self.slack.wait_for(
            "chat.update", lambda call: call.params.get("ts") == self.ts_of(approval) and predicate(call), timeout=20
        )

    def outcome(self, approval: ApprovalRequest, timeout: float = 30) -> str:
        """The agent's final answer, as posted in the request's thread."""
        call = self.slack.wait_for(
            "chat.postMessage",
            lambda call: (
                call.params.get("thread_ts") == getattr(self.thread_of(approval), "ts", None)
                and str(call.params.get("text", "")).startswith(":robot_face:")
            ),
            timeout=timeout,
        )
        return str(call.params["text"])

    def slash(self, user: str, text: str) -> str:
        """Run `/countersign <text>` as `user`; the answer, from the ack or (admin commands, answered after
        the ack) from the command's response_url."""
        marker = uuid.uuid4().hex
        response = self.driver.slash_command(user, "/countersign", text, response_url=self.slack.response_url(marker))
        assert response.status == 200, response.body
        if response.body:
            return str(response.json()["text"])
        call = self.slack.wait_for("response_url", lambda call: call.params.get("_name") == marker)
        assert call.params["response_type"] == "ephemeral"
        return str(call.params["text"])

    def ephemeral_to(self, user: str, count: int = 1) -> list[str]:
        """Texts of the ephemeral messages shown to `user` (waits for at least `count`); the emulator
        lives for the whole session, so each test clicks as users of its own."""
        calls = self.slack.wait_for("chat.postEphemeral", lambda call: call.params.get("user") == user, count=count)
        calls = calls if isinstance(calls, list) else [calls]
        return [str(call.params.get("text")) for call in calls]


class Stack(SlackUser):
    """Handles on the running bot and worker processes, and (from `SlackUser`) helpers that act and wait
    like a Slack user."""

    def __init__(self, settings: Settings, slack: SlackEmulator, store: Store, queue: JobQueue, logs: Path, secret: str) -> None:
        self.settings = settings
        self.slack = slack
        self.store = store
        self.queue = queue
        self.logs = logs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/slack/events"
        self.driver = SlackDriver(self.url, secret, response_url=slack.response_url(), acting_as=slack.add_member)
        self.effects = logs / "effects"
        self.effects.mkdir(exist_ok=True)
        self.metrics_port = free_port()
        self.env = process_env(settings, self.port) | {
            "COUNTERSIGN_TEST_EFFECTS": str(self.effects),
            "COUNTERSIGN_METRICS_PORT": str(self.metrics_port),
        }
        self.worker: Process | None = None
        self.bot: Process | None = None
        self.fork_server: ForkServer | None = None

    @property
    def bot_token(self) -> str:
        """The token the stack's processes call Slack with (the in-process tier has its own)."""
        return self.settings.slack_bot_token.get_secret_value() if self.settings.slack_bot_token else ""

    @classmethod
    @contextmanager
    def start(
        cls,
        settings: Settings,
        slack: SlackEmulator,
        store: Store,
        queue: JobQueue,
        logs: Path,
        secret: str,
        fork_server: ForkServer | None = None,
    ) -> Iterator[Stack]:
        """Start the worker and the bot, wait until both serve, and stop them afterwards. With a fork
        server, each (re)start forks it instead of starting a new interpreter (tests/forkserver.py)."""
        stack = cls(settings, slack, store, queue, logs, secret)
        stack.fork_server = fork_server
        try:
            # Both at once: each waits for its own imports.
            stack.queue.connection.delete("countersign:agents")
            stack.worker, stack.bot = stack._spawn("worker"), stack._spawn("bot")
            stack._wait_for_worker()
            stack._wait_for_bot()
            yield stack
        finally:
            # Nothing after the session reads their state: no warm shutdown to wait for.
            for process in (stack.bot, stack.worker):
                stack._kill_group(process)

    def _spawn(self, command: str) -> Process:
        if self.fork_server is not None:
            return self.fork_server.start([command], self.env, self.logs / f"{command}.log")
        log = open(self.logs / f"{command}.log", "ab")  # noqa: SIM115 - the process owns it
        # A process group of its own, so "kill the worker" can mean its job children too.
        return subprocess.Popen(
            [sys.executable, "-m", "countersign.cli", command],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @staticmethod
    def _kill_group(process: Process | None) -> None:
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def _stop(self, process: Process | None) -> None:
        """SIGTERM, and fail loudly (after killing it) if it has not exited within 15 s: a stop that hangs
        is a defect a deploy would meet, not something to paper over with a kill."""
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            for child in children_of(process.pid):
                os.kill(child, signal.SIGKILL)
            self._kill_group(process)
            raise AssertionError(f"{process.args!r} did not stop within 15 s of SIGTERM") from None

    def countersign(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `countersign <args>` (e.g. `run`, `audit verify`) with the stack's settings, to its end."""
        if self.fork_server is not None:
            return self.fork_server.run(list(args), self.env, timeout=120)
        command = [sys.executable, "-m", "countersign.cli", *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120)

    def start_worker(self) -> None:
        """Start `countersign worker` and wait until it has published its agents."""
        self.queue.connection.delete("countersign:agents")
        self.worker = self._spawn("worker")
        self._wait_for_worker()

    def _wait_for_worker(self) -> None:
        wait_until(lambda: self.queue.known_agents() or self._died(self.worker, "worker"), 60, "the worker")

    def stop_worker(self) -> None:
        """Stop `countersign worker` as an operator would (SIGTERM, warm shutdown)."""
        self._stop(self.worker)
        self.worker = None

    def kill_worker(self) -> None:
        """SIGKILL the worker and every job process it forked, as a crashed machine would."""
        if self.worker is not None:
            # The job processes first, by pid: nothing the worker forked outlives it, whatever its process group.
            for child in children_of(self.worker.pid):
                os.kill(child, signal.SIGKILL)
        self._kill_group(self.worker)
        self.worker = None

    def kill_job_process(self) -> int:
        """SIGKILL the worker's running job process alone (its parent lives on); returns its pid."""
        assert self.worker is not None
        children = wait_until(lambda: children_of(self.worker.pid), 10, "the worker's job process")
        os.kill(children[0], signal.SIGKILL)
        return children[0]

    def start_bot(self) -> None:
        """Start `countersign bot` and wait until it serves."""
        self.bot = self._spawn("bot")
        self._wait_for_bot()

    def _wait_for_bot(self) -> None:
        wait_until(self._bot_ready, 30, "the bot to serve /healthz")

    def kill_bot(self) -> None:
        """SIGKILL the bot: gunicorn's master and its workers, mid-whatever they were doing."""
        self._kill_group(self.bot)
        self.bot = None

    def _died(self, process: Process | None, name: str) -> None:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log(name)[-3000:]}")

    def _bot_ready(self) -> bool:
        self._died(self.bot, "bot")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def scrape(self, process: str) -> str:
        """What Prometheus reads from the bot's /metrics or the worker's."""
        port = self.port if process == "bot" else self.metrics_port
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()

    def log(self, name: str) -> str:
        """What a process printed so far."""
        return (self.logs / f"{name}.log").read_text(errors="replace")

    # Side effects of the `payments_effects` agent (tests/agents.py)

    def hold(self, key: str) -> None:
        """Make the effect agent's tool `key` (e.g. `refund-42`) stop mid-way until `release`."""
        (self.effects / f"hold-{key}").touch()

    def wait_until_held(self, key: str, timeout: float = 20) -> None:
        """Wait until a held tool has reached its hold (it has run up to there)."""
        wait_until(lambda: (self.effects / f"holding-{key}").exists(), timeout, f"tool {key} to reach its hold")

    def release(self, key: str) -> None:
        """Let a held tool carry on."""
        (self.effects / f"release-{key}").touch()
