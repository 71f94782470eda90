"""Every error Slack can answer has a defined outcome: what could not be posted stays owed in SQL and goes out on a
later try (with backoff: longer when only a person can fix it), and whoever can fix it is told, once, in words.

Each test uses a channel and a requester of its own: the Slack emulator lives for the whole session, and a channel
the app leaves or that is archived stays so. Refusals are set up for the in-process tier's token only.
"""

from __future__ import annotations

import re
import urllib.request
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from approvals.frontend import RequestChanged
from approvals.models import ApprovalRequest, utcnow
from approvals.policies import Rule
from approvals.runs import RunRequest, start_run
from approvals.tables import runs
from bot.ids import ActionId
from bot.metadata import ApprovalRef
from bot.server import CountersignRequestHandler
from sandbox.emulator import BOT_USER_ID, Channel
from tests.local import Local
from tests.stack import Stack, wait_until

AMOUNT = 23  # the refunds these tests ask for, under their own rule's channel


def _channel(local: Local, name: str) -> str:
    """A fresh public channel the app is in, and a rule that posts this test's refunds there."""
    channel = f"C0{name.upper()}{uuid.uuid4().hex[:6].upper()}"
    local.slack.add_channel(Channel(channel, name, members=("U0DECIDER",)))
    local.policies(Rule(name=f"{name} refunds", agent="payments", tool="refund", when=f"amount == {AMOUNT}", channel=channel))
    return channel


def _ask(local: Local, requester: str, order: int) -> ApprovalRequest:
    """Start a run from Slack as `requester` and let the worker try to post its request (stored, maybe not shown)."""
    request = RunRequest(
        agent="payments", input_text=f"Refund order #{order} for ${AMOUNT}", requested_by=requester, reply_channel="C0ASKED"
    )
    start_run(request, local.store, None)
    local.work()

    def tried() -> ApprovalRequest | None:
        # Stored, and the attempt that tried to post it over (the local worker's thread may be the one trying).
        with local.store.db.engine.connect() as conn:
            held = conn.execute(select(runs.c.lease_owner).where(runs.c.thread_id == request.thread_id)).scalar()
        return None if held else next(iter(local.store.lists.requests_for_thread(request.thread_id)), None)

    return wait_until(tried, 10, "the request, and the attempt to post it")


def _dms(local: Local, user: str) -> list[str]:
    return [str(m.get("text")) for m in local.slack.dm_messages(user)]


def _owed_later(local: Local, approval: ApprovalRequest, after: timedelta) -> bool:
    """The request is not shown, its run is not tried again now, and is tried again `after` from now."""
    now = utcnow()
    return (
        local.store.requests.get(approval.id).shown_at is None
        and approval.thread_id not in local.store.due.runs_owed(now)
        and approval.thread_id in local.store.due.runs_owed(now + after)
    )


def _refusals(local: Local, approval: ApprovalRequest) -> list[tuple[str, bool]]:
    """Slack's answer to each try that could not show the run's request, as audited (`not_shown`), and whether it
    was taken as lasting."""
    return [
        (e.detail["reason"], e.detail["lasting"])
        for e in local.store.audit_log.audit_events()
        if e.event == "not_shown" and e.detail.get("thread_id") == approval.thread_id
    ]


def _try_again(local: Local, approval: ApprovalRequest) -> ApprovalRequest:
    """What a worker does once the backoff has passed: take the run further (here, post its request)."""
    local.runtime.advance(approval.thread_id)
    return local.store.requests.get(approval.id)


def _give_up(local: Local, approval: ApprovalRequest, who: str) -> None:
    """`who` stops the run whose channel stays broken: nothing of it is owed any more, so no later try of it takes a
    fault another test sets up in this session's emulator."""
    local.store.runs.stop(approval.thread_id, who, None, timedelta(0))


def test_not_in_channel_tells_the_requester_to_invite_the_bot_and_posts_once_invited(local: Local) -> None:
    finance = _channel(local, "finance")
    local.slack.leave(finance, BOT_USER_ID)

    approval = _ask(local, "U0ASKS2801", 2801)

    [told] = wait_until(lambda: _dms(local, "U0ASKS2801"), 10, "the requester's DM")
    assert told == (
        f":warning: I can't post in <#{finance}>: invite @countersign to <#{finance}> (`/invite @countersign` there). "
        "The request for `refund` waits and is posted once I'm in."
    )
    assert _owed_later(local, approval, timedelta(minutes=1))
    assert _try_again(local, approval).shown_at is None
    assert _dms(local, "U0ASKS2801") == [told]  # told once, not on every try
    assert _refusals(local, approval) == [("not_in_channel", True)] * 2  # each try audited

    local.slack.join(finance, BOT_USER_ID)
    assert _try_again(local, approval).shown_at is not None
    assert local.message(approval)["blocks"] and local.posted(approval).channel == finance


def test_channel_not_found_tells_the_requester_to_invite_the_bot_or_pick_another_channel(local: Local) -> None:
    gone = _channel(local, "gone")
    local.slack.delete_channel(gone)

    approval = _ask(local, "U0ASKS2802", 2802)

    [told] = wait_until(lambda: _dms(local, "U0ASKS2802"), 10, "the requester's DM")
    assert f"I can't find the channel `{gone}` of rule _gone refunds_" in told
    assert "Invite @countersign to it, or pick another channel for rule _gone refunds_" in told
    assert _owed_later(local, approval, timedelta(minutes=1))
    _give_up(local, approval, "U0ASKS2802")


def test_archived_channel_tells_the_requester_to_pick_another_channel_for_the_rule(local: Local) -> None:
    old = _channel(local, "old")
    local.slack.archive(old)

    approval = _ask(local, "U0ASKS2803", 2803)

    [told] = wait_until(lambda: _dms(local, "U0ASKS2803"), 10, "the requester's DM")
    assert told.startswith(f":warning: <#{old}> is archived: pick another channel for rule _old refunds_")
    assert _owed_later(local, approval, timedelta(minutes=1))
    _give_up(local, approval, "U0ASKS2803")


def test_a_run_nobody_asked_for_from_slack_tells_the_admins_what_to_fix(local: Local) -> None:
    finance = _channel(local, "nobodys")
    local.slack.leave(finance, BOT_USER_ID)
    request = RunRequest(agent="payments", input_text=f"Refund order #2804 for ${AMOUNT}")  # `countersign run`
    before = len(_dms(local, "U0ADMIN"))

    start_run(request, local.store, None)
    local.work()

    told = wait_until(lambda: _dms(local, "U0ADMIN")[before:], 10, "the admin's DM")
    assert told == [
        f":warning: I can't post in <#{finance}>: invite @countersign to <#{finance}> (`/invite @countersign` there). "
        "The request for `refund` waits and is posted once I'm in."
    ]
    _give_up(local, local.store.lists.requests_for_thread(request.thread_id)[0], "U0ADMIN")


def test_a_request_slack_finds_too_long_is_posted_in_its_compact_form(local: Local) -> None:
    long = _channel(local, "long")
    local.slack.fail("chat.postMessage", "msg_too_long", token=local.bot_token, channel=long)

    approval = local.start_run(f"Refund order #2805 for ${AMOUNT}", user="U0ASKS2805")

    message = local.message(approval)
    texts = str(message["blocks"])
    assert "1. `refund`" in texts  # a row per call, as a request too big for one message shows them
    actions = [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert actions == [ActionId.REJECT, ActionId.VIEW_CALLS]  # approved from the modal that shows every call whole


@pytest.mark.parametrize(
    ("answer", "status", "times"),
    [("internal_error", 500, 3), ("service_unavailable", 503, 3)],
)
def test_slack_down_leaves_the_request_owed_and_posts_it_on_the_next_try(
    local: Local, answer: str, status: int, times: int
) -> None:
    down = _channel(local, "down")
    local.slack.fail("chat.postMessage", answer, times=times, status=status, token=local.bot_token, channel=down)
    requester = f"U0ASKS28{status}"

    approval = _ask(local, requester, 2806)

    assert _refusals(local, approval) == [(answer, False)]  # transient: tried again at 2 s
    assert _try_again(local, approval).shown_at is not None
    assert not _dms(local, requester)  # nothing for a person to fix


def test_a_closed_connection_leaves_the_request_owed_and_posts_it_on_the_next_try(local: Local) -> None:
    cut = _channel(local, "cut")
    local.slack.drop("chat.postMessage", times=3, token=local.bot_token, channel=cut)  # slack_sdk tries twice more

    approval = _ask(local, "U0ASKS2807", 2807)

    assert _refusals(local, approval) == [("connection_closed", False)]
    assert _try_again(local, approval).shown_at is not None
    assert not _dms(local, "U0ASKS2807")


def test_a_deleted_request_message_is_posted_again_with_its_state_and_the_thread_is_told(local: Local) -> None:
    approval = local.start_run("Refund order #2808 for $250", user="U0ASKS2808")
    first = local.posted(approval)
    assert first is not None
    shown = local.message(approval)
    local.slack.delete_message(first.channel, first.ts)

    local.driver.block_action(
        "U0DECIDER",
        ActionId.APPROVE,
        ApprovalRef(approval_id=approval.id, action=None, rev=approval.revision).dump(),
        channel_id=first.channel,
        container_message_ts=first.ts,
        message=shown,
    )

    again = wait_until(lambda: (p := local.posted(approval)) != first and p, 10, "the request posted again")
    assert "Approved" in str(local.slack.message(again.channel, again.ts)["blocks"])
    note = wait_until(
        lambda: [r["text"] for r in local.slack.thread_replies(first.channel, first.ts) if ":recycle:" in r["text"]],
        10,
        "the thread's note",
    )
    assert note[0].startswith(":recycle: The request message for `refund` was deleted, so I posted it again")
    assert local.permalink_of(approval) in note[0]


def test_clicks_on_a_request_posted_again_after_its_deletion_count(local: Local) -> None:
    approval = local.start_run("Refund order #2809 for $250", user="U0ASKS2809")
    first = local.posted(approval)
    assert first is not None
    local.slack.delete_message(first.channel, first.ts)

    # Any redraw of the pending request finds its message gone (here the one a worker makes after a stale click).
    local.runtime.front_end.tell(RequestChanged(approval=approval, earlier=local.store.lists.decided_before(approval)))
    again = local.posted(approval)
    assert again is not None and again != first
    assert local.click("U0DECIDER", ActionId.APPROVE, approval).status == 200

    assert "Refunded $250.00 for order #2809" in local.outcome(approval)
    wait_until(lambda: ":white_check_mark:" in str(local.slack.message(again.channel, again.ts)["blocks"]), 10, "the decision")


def _get(handler: CountersignRequestHandler, path: str) -> tuple[str, str]:
    status: list[str] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": None}
    body = b"".join(handler(environ, lambda line, _headers: status.append(line)))
    return status[0], body.decode()


@pytest.mark.parametrize("answer", ["invalid_auth", "token_revoked", "account_inactive", "team_access_not_granted"])
def test_a_refused_token_shows_on_healthz_and_in_metrics_and_the_request_waits_in_sql(local: Local, answer: str) -> None:
    refused = _channel(local, "refused")
    local.slack.fail("chat.postMessage", answer, token=local.bot_token, channel=refused)
    requester = f"U0ASKS{answer.upper()[:8]}"

    approval = _ask(local, requester, 2810)

    assert _owed_later(local, approval, timedelta(minutes=1)) and _refusals(local, approval) == [(answer, True)]
    local.slack.fail("auth.test", answer, token=local.bot_token)
    bot = CountersignRequestHandler(local.app, "secret")  # a bot process's health check and metrics
    assert _get(bot, "/healthz") == ("503 Service Unavailable", f"slack refuses the app's token: {answer}")
    scraped = _get(bot, "/metrics")[1]
    assert "countersign_slack_auth_ok 0.0" in scraped
    assert f'countersign_slack_refusals_total{{error="{answer}"}}' in scraped
    assert not _dms(local, requester)  # Slack takes no message from the app while it refuses its token

    assert _try_again(local, approval).shown_at is not None
    assert "countersign_slack_auth_ok 1.0" in _get(bot, "/metrics")[1]
    assert _get(bot, "/healthz") == ("200 OK", "ok")


def test_an_escalation_to_a_channel_without_the_bot_tells_the_requester_and_is_posted_once_invited(local: Local) -> None:
    leads = f"C0LEADS{uuid.uuid4().hex[:6].upper()}"
    local.slack.add_channel(Channel(leads, "leads", members=("U0LEAD",)))
    local.slack.leave(leads, BOT_USER_ID)
    local.policies(
        Rule(
            name="escalating refunds",
            agent="payments",
            tool="refund",
            when=f"amount == {AMOUNT}",
            timeout="1h",
            on_timeout="escalate",
            escalation=[{"channel": leads, "timeout": "2h"}],
        )
    )
    approval = local.start_run(f"Refund order #2811 for ${AMOUNT}", user="U0ASKS2811")
    assert approval.deadline_at is not None
    due = approval.deadline_at + timedelta(seconds=1)

    local.fire_due(due)
    local.fire_due(due + timedelta(seconds=5))  # within its backoff: Slack is not asked again

    [told] = wait_until(lambda: _dms(local, "U0ASKS2811"), 10, "the requester's DM")
    assert told.startswith(f":warning: I can't post in <#{leads}>: invite @countersign to <#{leads}>")
    refused = [c for c in local.slack.calls_to("chat.postMessage") if c.params.get("channel") == leads]
    assert len(refused) == 1 and local.posted(approval, 1) is None

    local.slack.join(leads, BOT_USER_ID)
    local.fire_due(due + timedelta(minutes=1))
    assert local.posted(approval, 1) is not None and local.posted(approval, 1).channel == leads
    local.clock.reset()


def test_the_bots_metrics_say_slack_takes_its_token_across_its_processes(stack: Stack) -> None:
    urllib.request.urlopen(f"http://127.0.0.1:{stack.port}/healthz", timeout=5).close()  # asks Slack once in 30 s

    assert re.search(r"^countersign_slack_auth_ok 1\.0$", stack.scrape("bot"), re.MULTILINE)


def test_a_deleted_progress_message_goes_on_in_a_new_one(local: Local) -> None:
    approval = local.start_run("Refund order #2812 for $250", agent="payments_effects", user="U0ASKS2812")
    thread = local.ts_of(approval)
    first = local.slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("thread_ts") == thread and c.params["text"].startswith(":gear:")
    ).response["ts"]
    local.slack.delete_message(approval.channel or "", first)

    local.click("U0DECIDER", ActionId.APPROVE, approval)

    again = local.slack.wait_for(
        "chat.postMessage",
        lambda c: (
            c.params.get("thread_ts") == thread
            and "Refunded $250.00 for order #2812" in c.params["text"]
            and c.params["text"].startswith(":gear:")
        ),
        timeout=20,
    )
    assert again.ok and again.response["ts"] != first
