"""When the bot cannot answer in time (a burst of clicks, a database busy with other writers), Slack stops
waiting after 3 s and shows the person a timeout. The work goes on, and its outcome reaches the person
another way: the request message, or the command's response_url. Here the app waits 0.3 s, not 3 s."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Table, text

from approvals.store import Store
from approvals.tables import approvals, runs
from bot.app import create_app
from bot.ids import ActionId
from bot.server import CountersignRequestHandler
from bot.slack_client import create_slack_client
from tests.conftest import SIGNING_SECRET
from tests.local import Local, WsgiDriver

ACK_TIMEOUT = 0.3


@pytest.fixture
def impatient(local: Local) -> Iterator[Local]:
    """The in-process tier, its Slack requests handled by an app that waits `ACK_TIMEOUT` for its listeners."""
    app = create_app(
        local.settings,
        local.store,
        local.queue,
        create_slack_client(local.settings),
        policies=local.rules,
        clock=local.clock,
        ack_timeout=ACK_TIMEOUT,
    )
    usual = local.driver
    local.driver = WsgiDriver(
        CountersignRequestHandler(app, SIGNING_SECRET), SIGNING_SECRET, local.slack.response_url(), local.slack.add_member
    )
    try:
        yield local
    finally:
        local.driver = usual


@contextmanager
def writes_wait(store: Store, table: Table) -> Iterator[None]:
    """Until the block ends, writes to `table` wait for another transaction (reads go on)."""
    with store.db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE"))
        else:
            # A write that changes nothing still takes SQLite's one write lock, until the commit.
            conn.execute(text(f"UPDATE {table.name} SET {next(iter(table.primary_key)).name} = NULL WHERE 0 = 1"))
        yield


def test_a_click_answered_late_is_still_answered_and_its_decision_shows_once_recorded(impatient: Local) -> None:
    approval = impatient.start_run("Refund order #601 for $20")

    with writes_wait(impatient.store, approvals):
        response = impatient.click("U0SLOWAPPROVER", ActionId.APPROVE, approval)

    assert response.status == 200, response.body  # not Bolt's 404 "unhandled request"
    assert response.elapsed >= ACK_TIMEOUT
    update = impatient.wait_for_update(approval, lambda call: "U0SLOWAPPROVER" in str(call.params.get("blocks")))
    assert "Approved* by <@U0SLOWAPPROVER>" in str(update.params["blocks"])
    assert impatient.store.requests.get(approval.id).status == "approved"


def test_a_slash_command_answered_late_sends_its_reply_to_the_response_url(impatient: Local) -> None:
    marker = uuid.uuid4().hex

    with writes_wait(impatient.store, runs):
        response = impatient.driver.slash_command(
            "U0SLOWASKER",
            "/countersign",
            "run payments Refund order #602 for $20",
            response_url=impatient.slack.response_url(marker),
        )

    assert response.status == 200 and response.body == ""
    reply = impatient.slack.wait_for("response_url", lambda call: call.params.get("_name") == marker)
    assert reply.params["response_type"] == "ephemeral"
    started = re.search(r"run `?(\w+)", str(reply.params["text"]))
    assert started, reply.params["text"]
    assert impatient.store.runs.get_run(started.group(1)).requested_by == "U0SLOWASKER"
