"""A `countersign bot` in Socket Mode beside the stack's processes: for tests/test_socket_mode.py and
bench/socket_mode.py."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from countersign.ports import free_port
from sandbox.socket_driver import SocketModeDriver
from tests.stack import Process, SlackUser, Stack

APP_TOKEN = "xapp-1-A0EMULATED-1-socketmode"


class SocketBot(SlackUser):
    """A second `countersign bot`, in Socket Mode, beside the stack's (whose worker runs what it decides);
    `driver` delivers Slack's payloads to it down the emulator's websocket."""

    def __init__(self, stack: Stack) -> None:
        self.slack, self.store, self.queue, self.effects = stack.slack, stack.store, stack.queue, stack.effects
        self.socket = stack.slack.socket_mode
        self.driver = SocketModeDriver(self.socket, response_url=stack.slack.response_url(), acting_as=stack.slack.add_member)
        self.env = stack.env | {"SLACK_APP_TOKEN": APP_TOKEN, "PORT": str(free_port())}
        self.logs: Path = stack.logs / "socket-bot.log"
        self.process: Process | None = None

    def start(self) -> None:
        """Start the bot and wait until it has connected (said hello)."""
        connected = self.socket.connections_opened
        with open(self.logs, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "countersign.cli", "bot"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.wait_for_connection(connected + 1, timeout=60)

    def wait_for_connection(self, count: int, timeout: float = 30) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the Socket Mode bot exited:\n{self.logs.read_text()[-3000:]}")
        self.socket.wait_for_connection(count, timeout)

    def scrape(self) -> str:
        """What Prometheus reads from the bot's /metrics (on its PORT, beside /healthz: Slack reaches it by the socket)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.env['PORT']}/metrics", timeout=5) as response:
            return response.read().decode()

    def health(self) -> tuple[int, str]:
        """What the bot's /healthz answers: its status and text."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.env['PORT']}/healthz", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
