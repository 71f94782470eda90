"""Times are right whatever the server's time zone: stored UTC-aware, shown to each viewer in theirs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid

import pytest

from approvals.settings import Settings
from tests.stack import REPO_ROOT, Stack


def test_admin_settings_show_when_a_change_was_made_from_a_server_in_new_york(stack: Stack) -> None:
    assert stack.env["TZ"] == "America/New_York"
    changed = time.time()
    stack.slash("U0ADMIN", "timeout payments_admin.refund 5m")

    text = stack.slash("U0ADMIN", "settings")

    line = next(line for line in text.splitlines() if "`payments_admin.refund`" in line)
    shown = int(re.search(r"<!date\^(\d+)\^", line)[1])  # type: ignore[index]
    assert abs(shown - changed) < 60


_READ_BACK = """
import sys
from datetime import timedelta
from approvals.store import Store, create_db_engine
from approvals.models import Gate, NewApprovalRequest, ProposedAction, Run, RunStatus, utcnow
store = Store(create_db_engine(sys.argv[1]))
run = store.runs.create_run(Run(thread_id=sys.argv[2], agent="payments", input_text="x", status=RunStatus.WAITING))
request = store.requests.create_request(NewApprovalRequest(thread_id=run.thread_id, interrupt_id="i", kind="langchain_hitl",
    actions=[ProposedAction(tool="refund", args={})], gate=Gate(timeout=timedelta(hours=1))))
print(store.requests.get(request.id).deadline_at.timestamp(), store.runs.get_run(run.thread_id).created_at.timestamp())
"""


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/Los_Angeles"])
def test_times_written_and_read_by_a_process_in_another_zone_are_utc(settings: Settings, zone: str, store: object) -> None:
    written = time.time()

    done = subprocess.run(
        [sys.executable, "-c", _READ_BACK, settings.sqlalchemy_url, uuid.uuid4().hex],
        env={**os.environ, "TZ": zone, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )

    deadline, created = (float(x) for x in done.stdout.split())
    assert abs(created - written) < 30
    assert abs(deadline - (created + 3600)) < 1
