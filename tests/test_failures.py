"""A failing run is told in its thread in one short line with a reference to the log, never with the
error itself (database errors carry statements and the tool's arguments)."""

from __future__ import annotations

import logging

import pytest

from approvals.runs import RunRequest, start_run
from approvals.settings import Settings
from countersign.wiring import build_services
from sandbox.emulator import SlackEmulator


def test_a_run_that_fails_for_good_tells_its_channel_a_reference_not_the_error(
    private_settings: Settings, slack: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    settings = private_settings.model_copy(update={"countersign_agents": "tests.agents:AGENTS", "max_attempts": 1})
    runtime = build_services(settings).runtime
    request = RunRequest(agent="ledger", input_text="Post it", requested_by="U0ASKER", reply_channel="C0LEDGER")
    start_run(request, runtime.store, None)

    with caplog.at_level(logging.ERROR, logger="worker.runtime"):
        assert runtime.advance(request.thread_id) == "failed"

    told = slack.wait_for("chat.postMessage", lambda call: call.params.get("channel") == "C0LEDGER").params["text"]
    assert told.startswith(":warning: The `ledger` run failed after 1 attempts (ref `")
    assert "4111" not in told and "INSERT" not in told
    ref = told.split("(ref `")[1][:8]
    assert ref in caplog.text and "UniqueViolation" in caplog.text  # the details are in the log
    assert "4111" not in str([e.detail for e in runtime.store.audit_log.audit_events() if e.event == "attempt_failed"])
    assert runtime.store.runs.get_run(request.thread_id).status == "failed"
