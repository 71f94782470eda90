"""A missing or malformed setting stops start-up with one line naming the variable.

Some tests run the real command and read its terminal; the rest call the worker's start-up in this
process, where the same line is what the command prints for the `ConfigurationError` it raises."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from approvals.errors import ConfigurationError
from approvals.settings import load_settings
from approvals.store import Store
from countersign.cli import stop_line
from countersign.ports import free_port
from countersign.wiring import build_services
from tests.forkserver import ForkServer
from tests.stack import REPO_ROOT


def _countersign(fork_server: ForkServer, command: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "COUNTERSIGN_", "REDIS_", "DATABASE_"))}
    return fork_server.run([command], clean | {"PYTHONPATH": str(REPO_ROOT)} | env, cwd=tmp_path)


def test_malformed_database_url_is_named_in_one_line(fork_server: ForkServer, tmp_path: Path) -> None:
    done = _countersign(fork_server, "worker", tmp_path, DATABASE_URL="mysql://db/countersign")

    assert done.returncode == 1
    assert done.stderr.strip() == "countersign: DATABASE_URL: Value error, must be a sqlite:/// or postgresql:// URL"


def _worker_start_up_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> str:
    """The line `countersign worker` stops with, started in `tmp_path` with only these variables set."""
    for name in os.environ:
        if name.startswith(("SLACK_", "COUNTERSIGN_", "REDIS_", "DATABASE_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError) as stopped:
        build_services(load_settings())
    return stop_line(stopped.value)


def test_agent_registry_that_cannot_be_imported_is_named_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, valkey: str
) -> None:
    line = _worker_start_up_line(monkeypatch, tmp_path, REDIS_URL=valkey, COUNTERSIGN_AGENTS="no_such_module:AGENTS")

    assert line == "countersign: COUNTERSIGN_AGENTS='no_such_module:AGENTS' cannot be loaded: No module named 'no_such_module'"


def test_bot_over_http_without_a_signing_secret_says_so(fork_server: ForkServer, tmp_path: Path, valkey: str) -> None:
    done = _countersign(fork_server, "bot", tmp_path, REDIS_URL=valkey, SLACK_BOT_TOKEN="xoxb-x")

    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "countersign: SLACK_SIGNING_SECRET: not set (needed to verify Slack's requests over HTTP)"
    )


def test_bot_with_an_empty_signing_secret_stops_naming_it(fork_server: ForkServer, tmp_path: Path, valkey: str) -> None:
    done = _countersign(fork_server, "bot", tmp_path, REDIS_URL=valkey, SLACK_BOT_TOKEN="xoxb-x", SLACK_SIGNING_SECRET="")

    assert done.returncode == 1
    assert done.stderr.strip() == "countersign: SLACK_SIGNING_SECRET: Value error, is empty (set it, or unset the variable)"


def test_worker_that_cannot_reach_redis_names_it_without_its_password(
    fork_server: ForkServer, tmp_path: Path, store: Store, database_url: str
) -> None:
    unreachable = f"redis://:s3cret-password@127.0.0.1:{free_port()}/0"

    done = _countersign(fork_server, "worker", tmp_path, REDIS_URL=unreachable, DATABASE_URL=database_url)

    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"countersign: REDIS_URL: cannot reach redis://:***@127.0.0.1:{unreachable.rsplit(':', 1)[1]}: ")
    assert "s3cret-password" not in done.stdout + done.stderr


def test_bad_policy_file_stops_the_worker_naming_the_rule_and_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, valkey: str
) -> None:
    policies = tmp_path / "policies.yml"
    policies.write_text("rules:\n  - name: big refunds\n    tool: refund\n    level: hard\n    on_timeout: approve\n")

    line = _worker_start_up_line(monkeypatch, tmp_path, REDIS_URL=valkey, COUNTERSIGN_POLICIES=str(policies))

    assert line == (
        f"countersign: COUNTERSIGN_POLICIES: {policies}: rule 1 ('big refunds'): "
        "on_timeout approve is not allowed for level hard (fail closed)"
    )


def test_policy_whose_deadline_outcome_no_covered_call_allows_stops_the_worker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, valkey: str
) -> None:
    policies = tmp_path / "policies.yml"
    policies.write_text("rules:\n  - name: soft questions\n    tool: ask_human\n    level: soft\n")

    line = _worker_start_up_line(
        monkeypatch, tmp_path, REDIS_URL=valkey, COUNTERSIGN_POLICIES=str(policies), COUNTERSIGN_AGENTS="tests.agents:AGENTS"
    )

    assert line == (
        "countersign: COUNTERSIGN_POLICIES: rule 'soft questions' goes ahead at its deadline, but warehouse.ask_human "
        "cannot be approved (its interrupt does not allow approve), so that could never apply"
    )


def test_starters_for_an_agent_the_registry_does_not_have_stop_the_worker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, valkey: str
) -> None:
    policies = tmp_path / "policies.yml"
    policies.write_text("agents:\n  paymnts:\n    starters: [U0TREASURER]\n")

    line = _worker_start_up_line(
        monkeypatch, tmp_path, REDIS_URL=valkey, COUNTERSIGN_POLICIES=str(policies), COUNTERSIGN_AGENTS="tests.agents:AGENTS"
    )

    assert line.startswith("countersign: COUNTERSIGN_POLICIES: agents: 'paymnts' is not an agent of COUNTERSIGN_AGENTS (")
    assert "payments" in line
