"""The requester is told by DM of each decision on their run's requests, and of how the run ended, when they started it
from Slack, unless they said `/countersign notify off`. Each decision is told once, however often the request is
redrawn. No policy rules: each request is decided by anyone in #approvals but its requester.

Each test starts its runs as a requester of its own: the Slack emulator lives for the whole session.
"""

from __future__ import annotations

from approvals.frontend import RequestChanged
from approvals.runs import RunRequest, start_run
from bot.ids import ActionId
from tests.local import Local
from tests.stack import wait_until


def dms_to(local: Local, user: str) -> list[str]:
    """The texts of the messages in `user`'s DM with the app."""
    return [str(m.get("text")) for m in local.slack.dm_messages(user)]


def test_the_requester_is_told_by_dm_of_a_decision_with_a_link_to_the_request(local: Local) -> None:
    approval = local.start_run("Refund order #2721 for $250", user="U0ASKS21")

    local.click("U0DECIDES21", ActionId.APPROVE, approval)

    [told] = wait_until(lambda: [t for t in dms_to(local, "U0ASKS21") if "Approved" in t], 10, "the requester's DM")
    assert told.startswith("Your `payments` run: `refund`: :white_check_mark: *Approved* by <@U0DECIDES21>")
    assert f"(<{local.permalink_of(approval)}|the request>)" in told


def test_the_requester_is_told_how_their_run_ended(local: Local) -> None:
    approval = local.start_run("Refund order #2722 for $250", user="U0ASKS22")

    local.click("U0DECIDES22", ActionId.APPROVE, approval)

    assert "Refunded $250.00 for order #2722" in local.outcome(approval)
    [ended] = wait_until(lambda: [t for t in dms_to(local, "U0ASKS22") if t.startswith(":robot_face:")], 10, "the outcome DM")
    assert ended.startswith(":robot_face: Your `payments` run finished (<")
    assert "Refunded $250.00 for order #2722" in ended


def test_each_decision_is_told_once_however_often_the_request_is_redrawn(local: Local) -> None:
    approval = local.start_run("Refund order #2723 for $250", user="U0ASKS23")
    local.click("U0DECIDES23", ActionId.APPROVE, approval)
    local.outcome(approval)
    wait_until(lambda: [t for t in dms_to(local, "U0ASKS23") if "Approved" in t], 10, "the requester's DM")

    decided = local.store.requests.get(approval.id)
    for _ in range(2):  # as a bot and a worker would, each drawing it without looking
        local.runtime.front_end.tell(RequestChanged(approval=decided, earlier=local.store.lists.decided_before(decided)))

    assert len([t for t in dms_to(local, "U0ASKS23") if "Approved" in t]) == 1


def test_a_requester_who_said_notify_off_is_told_nothing_by_dm(local: Local) -> None:
    answer = local.slash("U0ASKS24", "notify off")
    approval = local.start_run("Refund order #2724 for $250", user="U0ASKS24")

    local.click("U0DECIDES24", ActionId.APPROVE, approval)

    assert answer == "The runs you start will no longer tell you by DM; their threads still say everything."
    assert "Refunded $250.00 for order #2724" in local.outcome(approval)
    assert dms_to(local, "U0ASKS24") == []


def test_notify_on_and_off_are_answered_ephemerally_and_audited(local: Local) -> None:
    off = local.slash("U0ASKS25", "notify off")
    on = local.slash("U0ASKS25", "notify on")

    assert off.startswith("The runs you start will no longer tell you by DM")
    assert on == "The runs you start will tell you by DM of each decision and of how they end."
    rows = [e for e in local.store.audit_log.audit_events() if e.event == "notify_set" and e.actor == "U0ASKS25"]
    assert [row.detail for row in rows] == [{"notify_runs": False}, {"notify_runs": True}]


def test_notify_without_on_or_off_says_where_it_stands_and_how_to_change_it(local: Local) -> None:
    assert local.slash("U0ASKS26", "notify") == "The runs you start tell you by DM. Usage: `/countersign notify on|off`."


def test_help_mentions_notify(local: Local) -> None:
    assert "`/countersign notify on|off`" in local.slash("U0ASKS27", "help")


def test_a_run_started_outside_slack_tells_nobody_by_dm(local: Local) -> None:
    request = RunRequest(agent="payments", input_text="Refund order #2728 for $250", requested_by="U0ASKS28")
    start_run(request, local.store, None)
    local.work()
    approval = local.wait_for_request(request.thread_id, timeout=5)

    local.click("U0DECIDES28", ActionId.APPROVE, approval)

    assert "Refunded $250.00 for order #2728" in local.outcome(approval)
    assert dms_to(local, "U0ASKS28") == []
