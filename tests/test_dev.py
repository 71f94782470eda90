"""`countersign dev`: one command starts an embedded Valkey, the worker and the bot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.slack_emulator import SlackEmulator
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


def _clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "COUNTERSIGN_", "REDIS_", "DATABASE_", "APPROVALS_", "PORT"))
    }


def test_dev_serves_slack_with_an_embedded_valkey_and_sqlite(tmp_path: Path, slack: SlackEmulator) -> None:
    port = free_port()
    env = _clean_env() | {
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
    assert "embedded Valkey at redis://127.0.0.1:" in output
    assert "database sqlite:///countersign.db" in output
    assert (tmp_path / "countersign.db").exists()


def test_dev_names_the_missing_slack_settings(tmp_path: Path) -> None:
    dev = _dev(_clean_env(), tmp_path)
    try:
        wait_until(lambda: (tmp_path / "countersign.db").exists(), 60, "the worker to create the database")
    finally:
        dev.send_signal(signal.SIGTERM)
        output = dev.communicate(timeout=30)[0]
    assert "missing SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, APPROVALS_CHANNEL" in output
