"""`countersign dev`: one command starts an embedded Valkey, the worker and the bot."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from redis.exceptions import AuthenticationError

from countersign import dev
from countersign.embedded_valkey import start_valkey
from sandbox.emulator import SlackEmulator
from tests.sandbox_stack import DevSandbox, clean_env
from tests.stack import free_port, wait_until


def _dev(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "countersign.cli", "dev"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_dev_serves_slack_with_an_embedded_valkey_and_sqlite(tmp_path: Path, slack: SlackEmulator) -> None:
    port = free_port()
    env = clean_env() | {
        "SLACK_BOT_TOKEN": "xoxb-dev",
        "SLACK_SIGNING_SECRET": "dev-secret",
        "SLACK_API_URL": slack.base_url,
        "APPROVALS_CHANNEL": "C0DEV",
        "PORT": str(port),
    }
    dev = _dev(env, tmp_path)

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_until(healthy, 60, "countersign dev's bot")
    finally:
        dev.send_signal(signal.SIGINT)
        output = dev.communicate(timeout=30)[0]
    assert "embedded Valkey at redis://:***@127.0.0.1:" in output
    assert f"Listening at: http://127.0.0.1:{port} " in output
    assert "database sqlite:///countersign.db" in output
    assert (tmp_path / "countersign.db").exists()
    assert "sandbox" not in output


@pytest.mark.slow
def test_dev_with_some_slack_settings_names_the_missing_ones_and_opens_no_sandbox(tmp_path: Path) -> None:
    dev = _dev(clean_env() | {"SLACK_BOT_TOKEN": "xoxb-dev"}, tmp_path)
    try:
        wait_until(lambda: (tmp_path / "countersign.db").exists(), 60, "the database to be migrated")
    finally:
        dev.send_signal(signal.SIGTERM)
        output = dev.communicate(timeout=30)[0]
    assert "missing SLACK_SIGNING_SECRET, APPROVALS_CHANNEL" in output
    assert "sandbox" not in output


def test_a_stop_between_two_starts_stops_the_process_already_started(monkeypatch: pytest.MonkeyPatch) -> None:
    popen, started = subprocess.Popen, []

    def start_then_stop(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
        if started:
            raise KeyboardInterrupt  # SIGTERM (dev's handler raises this) lands before the second start
        started.append(popen(command, **options))
        return started[0]

    monkeypatch.setattr(dev, "_migrate", lambda plan: None)
    monkeypatch.setattr(dev.subprocess, "Popen", start_then_stop)
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]

    dev._run(dev._Plan(commands=[sleeper, sleeper], env={}))

    assert started[0].poll() is not None  # stopped, not left running on its own


def test_dev_without_slack_settings_prints_one_line_with_the_sandbox_url(dev_sandbox: DevSandbox) -> None:
    dev_sandbox.wait_ready()

    assert re.fullmatch(r"countersign dev: sandbox at http://127\.0\.0\.1:\d+/ \(.*\)\n", dev_sandbox.output[0])
    assert len(dev_sandbox.output) == 1


def test_sandbox_page_shows_the_redis_url_without_its_password(dev_sandbox: DevSandbox) -> None:
    notes = dev_sandbox.state()["sandbox"]["notes"]

    redis = next(note for note in notes if note.startswith("Redis: "))
    assert re.fullmatch(r"Redis: `redis://:\*\*\*@127\.0\.0\.1:\d+`\.", redis)


def test_sandbox_bot_listens_on_this_machine_only(dev_sandbox: DevSandbox) -> None:
    dev_sandbox.wait_ready()
    notes = dev_sandbox.state()["sandbox"]["notes"]
    log = Path(next(re.findall(r"`(.+)`", note)[0] for note in notes if note.startswith("What the bot and the worker print")))

    listening = re.findall(r"Listening at: (\S+)", log.read_text())
    assert listening and all(re.fullmatch(r"http://127\.0\.0\.1:\d+", address) for address in listening)


def test_sandbox_page_answers_only_requests_addressed_to_this_machine(dev_sandbox: DevSandbox) -> None:
    with urllib.request.urlopen(dev_sandbox.url, timeout=5) as page:
        assert "Local sandbox" in page.read().decode()

    elsewhere = urllib.request.Request(dev_sandbox.url, headers={"Host": "sandbox.example.com"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(elsewhere, timeout=5)
    assert refused.value.code == 421


def test_embedded_valkey_refuses_clients_without_its_password() -> None:
    server = start_valkey()
    try:
        with pytest.raises(AuthenticationError):
            Redis(host="127.0.0.1", port=server.port).set("job", "anything")
        assert Redis.from_url(server.connection_url).ping()
    finally:
        server.stop()


def test_embedded_valkeys_started_at_once_each_serve_on_a_port_of_their_own() -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        servers = list(pool.map(lambda _: start_valkey(), range(4)))
    try:
        assert len({server.port for server in servers}) == 4
        assert all(Redis.from_url(server.connection_url).ping() for server in servers)
    finally:
        for server in servers:
            server.stop()
