"""Who may start a run from Slack: per agent, the `starters` of the policy's `agents:` (user ids and user
groups); anyone in the workspace without them. A refused start stores and queues nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from approvals.policies import AgentAccess, PolicyError, load_policies
from approvals.tables import runs
from sandbox.emulator import SlackEmulator
from tests.local import Local


def _runs_of(local: Local, user: str) -> int:
    with local.store.db.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(runs).where(runs.c.requested_by == user)) or 0)


def _run_jobs(local: Local) -> set[bytes]:
    """The run jobs ever put on the in-process tier's queue (its worker takes their ids off the list)."""
    redis = local.queue.connection
    origin = local.queue.queue.name.encode()
    return {key for key in redis.scan_iter("rq:job:run-*") if redis.hget(key, "origin") == origin}


def test_someone_not_among_the_starters_is_told_and_nothing_is_stored_or_queued(local: Local) -> None:
    local.policies(agents={"payments": AgentAccess(starters=["U0TREASURER"])})
    jobs = _run_jobs(local)

    answer = local.slash("U0MALLORY", "run payments Refund order #61 for $9000")

    assert answer == "You may not start `payments`: its policy names who may."
    assert _runs_of(local, "U0MALLORY") == 0
    assert _run_jobs(local) == jobs


def test_a_starter_named_by_user_id_starts_the_agent(local: Local) -> None:
    local.policies(agents={"payments": AgentAccess(starters=["U0TREASURER"])})

    answer = local.slash("U0TREASURER", "run payments Refund order #62 for $250")

    assert answer.startswith("Started `payments`")
    assert _runs_of(local, "U0TREASURER") == 1


def test_a_member_of_a_starters_user_group_starts_the_agent(local: Local, slack: SlackEmulator) -> None:
    slack.add_usergroup("refund-starters", ["U0GROUPSTARTER"])
    local.policies(agents={"payments": AgentAccess(starters=["@refund-starters"])})

    answer = local.slash("U0GROUPSTARTER", "run payments Refund order #63 for $250")

    assert answer.startswith("Started `payments`")
    assert _runs_of(local, "U0GROUPSTARTER") == 1


def test_starters_for_every_other_agent_apply_to_an_agent_without_its_own(local: Local) -> None:
    local.policies(agents={"*": AgentAccess(starters=["U0OPS"])})

    assert local.slash("U0ANYONE", "run payments Refund order #64 for $250").startswith("You may not start `payments`")
    assert _runs_of(local, "U0ANYONE") == 0


def test_without_starters_anyone_in_the_workspace_starts_the_agent(local: Local) -> None:
    local.policies()

    answer = local.slash("U0ANYONEATALL", "run payments Refund order #65 for $250")

    assert answer.startswith("Started `payments`")
    assert _runs_of(local, "U0ANYONEATALL") == 1


def test_starters_are_read_from_the_policy_files_agents_key(tmp_path: Path) -> None:
    policies = tmp_path / "policies.yml"
    policies.write_text('agents:\n  payments:\n    starters: [U0TREASURER, "@finance"]\nrules: []\n')

    loaded = load_policies(str(policies))

    assert loaded.starters("payments") == ["U0TREASURER", "@finance"]
    assert loaded.starters("warehouse") is None


def test_a_starter_that_is_not_a_user_or_group_is_named_in_the_policy_error(tmp_path: Path) -> None:
    policies = tmp_path / "policies.yml"
    policies.write_text("agents:\n  payments:\n    starters: [alice]\n")

    with pytest.raises(PolicyError, match=r"agents\.payments\.starters\.0"):
        load_policies(str(policies))
