"""A run's ending is posted in its thread once. A Slack post cannot commit with SQL: a worker killed after posting the
ending and before noting it leaves it owed, and the next one reads the thread (by the post's message metadata) before
posting it again. The kill is set up here as the state it leaves: the ending posted, and not noted.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, update

from approvals.models import ApprovalRequest, RunStatus
from approvals.runs import RunRequest, start_run
from approvals.tables import approvals, runs
from bot import outbound
from bot.ids import ActionId
from bot.outbound import RUN_ENDED_EVENT
from sandbox.web_api.records import Call
from tests.local import Local
from tests.policies import TINY_REFUNDS
from tests.stack import wait_until


def _ending_posts(local: Local, thread_id: str) -> list[dict[str, object]]:
    """The ending posts of run `thread_id` Slack took."""
    return [
        call.params
        for call in local.slack.calls_to("chat.postMessage")
        if call.ok
        and (call.params.get("metadata") or {}).get("event_type") == RUN_ENDED_EVENT
        and call.params["metadata"]["event_payload"] == {"thread_id": thread_id}
    ]


def _thread_reads(local: Local, approval: ApprovalRequest) -> list[Call]:
    ts = local.ts_of(approval)
    return [call for call in local.slack.calls_to("conversations.replies") if call.params.get("ts") == ts]


def _held(local: Local, thread_id: str) -> bool:
    with local.store.db.engine.connect() as conn:
        return conn.execute(select(runs.c.lease_owner).where(runs.c.thread_id == thread_id)).scalar() is not None


def _ended_and_noted(local: Local, text: str, user: str) -> ApprovalRequest:
    """A run started from Slack by `user`, approved, whose ending is posted and noted told."""
    approval = local.start_run(text, user=user)
    local.click("U0DECIDES", ActionId.APPROVE, approval)
    local.outcome(approval)
    wait_until(lambda: local.store.runs.get_run(approval.thread_id).outcome_posted_at, 10, "the ending noted told")
    return approval


def _killed_before_noting(local: Local, thread_id: str) -> None:
    """What a worker killed between posting the ending and noting it leaves: the ending owed again; then told."""
    with local.store.db.engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.thread_id == thread_id).values(outcome_posted_at=None))
    wait_until(lambda: local.store.runs.get_run(thread_id).outcome_posted_at, 10, "the ending told again")


def test_an_ending_is_posted_with_metadata_naming_its_run_and_nothing_is_read_back(local: Local) -> None:
    approval = _ended_and_noted(local, "Refund order #3101 for $250", "U0ENDS01")

    [ending] = _ending_posts(local, approval.thread_id)
    assert ending["thread_ts"] == local.ts_of(approval)
    assert str(ending["text"]).startswith(":robot_face:")
    assert _thread_reads(local, approval) == []


def test_an_ending_posted_but_not_noted_is_told_again_without_a_second_post(local: Local) -> None:
    approval = _ended_and_noted(local, "Refund order #3102 for $250", "U0ENDS02")

    _killed_before_noting(local, approval.thread_id)

    assert len(_ending_posts(local, approval.thread_id)) == 1
    [read] = _thread_reads(local, approval)
    assert read.params["include_all_metadata"] in ("1", "true", True)


def test_an_ending_told_again_is_found_on_a_later_page_of_its_thread(local: Local, monkeypatch: pytest.MonkeyPatch) -> None:
    approval = _ended_and_noted(local, "Refund order #3106 for $250", "U0ENDS06")
    monkeypatch.setattr(outbound, "REPLIES_PAGE", 1)  # the ending comes after the request and its progress message

    _killed_before_noting(local, approval.thread_id)

    assert len(_ending_posts(local, approval.thread_id)) == 1
    assert len(_thread_reads(local, approval)) >= 3


def test_an_ending_of_a_run_without_a_thread_told_again_is_found_where_it_was_asked_and_not_posted_twice(
    local: Local,
) -> None:
    local.policies(TINY_REFUNDS)  # the refund goes ahead without asking anyone: the run never has a thread
    run = RunRequest(agent="payments", input_text="Refund order #3107 for $1", requested_by="U0ENDS07", reply_channel="C0ASKED")
    start_run(run, local.store, None)
    wait_until(lambda: local.store.runs.get_run(run.thread_id).outcome_posted_at, 10, "the ending noted told")
    [ending] = _ending_posts(local, run.thread_id)
    assert ending["channel"] == "C0ASKED" and not ending.get("thread_ts")

    _killed_before_noting(local, run.thread_id)

    assert len(_ending_posts(local, run.thread_id)) == 1
    reads = [c for c in local.slack.calls_to("conversations.history") if c.params.get("channel") == "C0ASKED"]
    assert reads and reads[0].params["include_all_metadata"] in ("1", "true", True)


def test_an_ending_told_again_where_its_thread_cannot_be_read_is_posted_again_with_one_warning(
    local: Local, caplog: pytest.LogCaptureFixture
) -> None:
    approval = _ended_and_noted(local, "Refund order #3103 for $250", "U0ENDS03")
    local.slack.fail("conversations.replies", "missing_scope", token=local.bot_token)

    with caplog.at_level(logging.WARNING, logger="bot.outbound"):
        _killed_before_noting(local, approval.thread_id)

    assert len(_ending_posts(local, approval.thread_id)) == 2  # a duplicate beats a lost ending
    warnings = [r for r in caplog.records if r.name == "bot.outbound" and approval.thread_id in r.getMessage()]
    assert len(warnings) == 1 and "missing_scope" in warnings[0].getMessage()


def test_a_decision_still_owed_its_resume_after_its_run_ended_resumes_nothing_and_ends_it_no_second_time(
    local: Local,
) -> None:
    approval = _ended_and_noted(local, "Refund order #3105 for $250", "U0ENDS05")

    # As a worker that delivered it and died before marking it leaves it, once an answer to a call cut off mid-way
    # carried the run to its end.
    with local.store.db.engine.begin() as conn:
        conn.execute(update(approvals).where(approvals.c.id == approval.id).values(resumed_at=None))
    wait_until(lambda: local.store.requests.get(approval.id).resumed_at, 10, "the decision owed no more")
    wait_until(lambda: not _held(local, approval.thread_id), 10, "the run let go by the worker that resumed it")

    assert local.store.runs.get_run(approval.thread_id).status is RunStatus.DONE
    assert len(_ending_posts(local, approval.thread_id)) == 1


def test_an_ending_told_again_is_sent_to_its_requester_by_dm_once(local: Local) -> None:
    approval = _ended_and_noted(local, "Refund order #3104 for $250", "U0ENDS04")

    _killed_before_noting(local, approval.thread_id)

    told = [m for m in local.slack.dm_messages("U0ENDS04") if str(m.get("text")).startswith(":robot_face:")]
    assert len(told) == 1
