"""`countersign dev` in sandbox mode, as a person starts it, and the headless browser that uses its page.

The browser tests drive the real page in Debian's Chromium through Playwright; the page plays
Slack for the real bot and worker that `countersign dev` started, over signed HTTP.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from approvals.models import ApprovalRequest
from approvals.settings import Settings
from approvals.store import Store, create_db_engine
from tests.stack import REPO_ROOT, free_port, wait_until
from worker.checkpointer import open_checkpointer

# Under .ci/run a missing browser is a failure, never a silent skip.
REQUIRE_BROWSER = os.environ.get("COUNTERSIGN_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The demo policy's soft rule waits the default timeout (30 s in the sandbox); 1 s here, so no test waits long.
SOFT_TIMEOUT = "1s"


def clean_env() -> dict[str, str]:
    """This process's environment without any Countersign or Slack setting, importing this checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "COUNTERSIGN_", "REDIS_", "DATABASE_", "APPROVALS_", "PORT"))
    }
    return env | {"PYTHONPATH": str(REPO_ROOT)}


@dataclass
class DevSandbox:
    """A running `countersign dev` without Slack settings: its page, its output, and its database."""

    process: subprocess.Popen[str]
    url: str
    # Every line `countersign dev` printed so far (its own; the bot's and worker's go to a log file).
    output: list[str]
    database_url: str

    @classmethod
    @contextmanager
    def start(cls, workdir: Path, *args: str) -> Iterator[DevSandbox]:
        """Start `countersign dev <args>` in `workdir` and wait for the line with the page's URL."""
        database_url = f"sqlite:///{workdir / 'sandbox.db'}"
        env = clean_env() | {
            "PORT": str(free_port()),
            "DATABASE_URL": database_url,
            "COUNTERSIGN_DEFAULT_TIMEOUT": SOFT_TIMEOUT,
            "PYTHONUNBUFFERED": "1",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "countersign.cli", "dev", *args],
            env=env,
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
        reader.start()
        try:
            wait_until(lambda: lines[:1] or process.poll() is not None, 30, "countersign dev's first line")
            match = re.search(r"sandbox at (http://\S+)", lines[0] if lines else "")
            if not match:
                raise RuntimeError(f"countersign dev did not open the sandbox:\n{''.join(lines)}")
            yield cls(process, match.group(1), lines, database_url)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    def state(self) -> dict[str, Any]:
        """What the page is drawn from (`GET /api/state`)."""
        with urllib.request.urlopen(self.url + "api/state", timeout=5) as response:
            return json.loads(response.read())

    def wait_ready(self) -> None:
        """Wait until the page says the bot and the worker are ready."""

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"countersign dev exited with {self.process.returncode}")
            return set(self.state()["sandbox"]["status"].values()) == {"ready"}

        wait_until(ready, 60, "the sandbox's bot and worker")

    @cached_property
    def store(self) -> Store:
        """The approval store the sandbox's processes write."""
        return Store(create_db_engine(Settings(database_url=self.database_url).sqlalchemy_url))

    def request(self, thread_id: str) -> ApprovalRequest:
        """The (first) approval request of a run, as the store holds it now."""
        return wait_until(lambda: next(iter(self.store.lists.requests_for_thread(thread_id)), None), 20, "the request")

    def tool_results(self, thread_id: str, tool: str = "refund") -> list[str]:
        """What `tool` returned to the agent in this run, once it did, read from the agent's own checkpoint."""
        return wait_until(lambda: self._tool_results(thread_id, tool), 20, f"{tool} to return in run {thread_id}")

    def _tool_results(self, thread_id: str, tool: str) -> list[str]:
        with open_checkpointer(Settings(database_url=self.database_url)) as saver:
            saved = saver.get_tuple({"configurable": {"thread_id": thread_id}})
        messages = saved.checkpoint["channel_values"].get("messages", []) if saved else []
        return [str(m.content) for m in messages if getattr(m, "type", "") == "tool" and m.name == tool]


def chromium_path() -> str | None:
    """Debian's Chromium, when installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def browser_context(user_data_dir: Path) -> Iterator[Any]:
    """A headless Chromium (Debian's) driven by Playwright; skips, or fails under CI, without one."""
    executable = chromium_path()
    if executable is None:
        message = "no Chromium on this machine (apt-get install chromium)"
        if REQUIRE_BROWSER:
            pytest.fail(f"COUNTERSIGN_REQUIRE_BROWSER=1 but {message}", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()
