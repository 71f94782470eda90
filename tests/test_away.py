"""Away: `/countersign away @colleague [until <date>]` names a delegate, who decides the requests that name the
absent approver for them ("for @X"), within the rule's other limits, and is sent by DM those already waiting on them
that their rule sends by DM; `/countersign back` ends it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from approvals.deciding import Deciding
from approvals.models import ApprovalRequest
from approvals.policies import Rule
from bot.ids import ActionId, BlockId
from sandbox.view_values import plain_text_value
from tests.local import Local
from tests.stack import wait_until
from tests.test_direct_messages import ALL_BUTTONS, buttons, click_in_dm, dm_of, shown

# Each names approvers of its own: who is away is kept in the in-process tier's database for the whole session.
DEPUTISED = Rule(
    name="deputised refunds", agent="payments", tool="refund", when="amount == 801", approvers=["U0AWAYCFO"], timeout="30d"
)
GROUP_DEPUTISED = Rule(name="treasury refunds", agent="payments", tool="refund", when="amount == 802", approvers=["@treasury"])
TWO_DEPUTISED = Rule(
    name="two deputised refunds",
    agent="payments",
    tool="refund",
    when="amount == 803",
    level="manual",
    quorum=2,
    approvers=["U0QUORUMA", "U0QUORUMB", "U0QUORUMC"],
)
DM_DEPUTISED = Rule(
    name="deputised refunds by DM", agent="payments", tool="refund", when="amount == 804", approvers=["U0DMAWAYCFO"], notify="dm"
)


@pytest.fixture
def away(local: Local) -> Iterator[Local]:
    """The in-process tier with the away rules, everyone back at the end (the database outlives the test)."""
    local.policies(DEPUTISED, GROUP_DEPUTISED, TWO_DEPUTISED, DM_DEPUTISED)
    yield local
    for person in ("U0AWAYCFO", "U0TREASURER", "U0QUORUMA", "U0AWAYSELF", "U0AWAYBACK", "U0AWAYASKS", "U0DMAWAYCFO"):
        local.store.people.set_back(person)


def _mention(user: str) -> str:
    return f"<@{user}|{user.lower()}>"


def _audit(local: Local, event: str, approval_id: str | None = None) -> list:
    return [e for e in local.store.audit_log.audit_events(approval_id) if e.event == event]


def _confirm(local: Local, user: str, approval: ApprovalRequest) -> dict:
    """Approve a manual call: click Approve, type CONFIRM, submit; the submission's answer (empty: closed)."""
    view = local.open_modal(user, ActionId.APPROVE, approval).response["view"]
    answered = local.driver.view_submission(user, view, {BlockId.CONFIRM: {ActionId.CONFIRM: plain_text_value("CONFIRM")}})
    assert answered.status == 200
    return json.loads(answered.body) if answered.body else {}


def test_away_names_a_delegate_until_the_end_of_that_day(away: Local) -> None:
    day = (datetime.now(UTC) + timedelta(days=40)).date()

    reply = away.slash("U0AWAYCFO", f"away {_mention('U0AWAYDEPUTY')} until {day.isoformat()}")

    assert reply.startswith(f"Until {day.day} {day:%b}") and "<@U0AWAYDEPUTY> can decide requests that name you." in reply
    person = away.store.people.get("U0AWAYCFO")
    assert person.delegate == "U0AWAYDEPUTY"
    assert person.away_until == datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    [row] = [e for e in _audit(away, "away_set") if e.actor == "U0AWAYCFO"][-1:]
    assert row.detail["delegate"] == "U0AWAYDEPUTY"


def test_away_without_a_date_lasts_until_back(away: Local) -> None:
    reply = away.slash("U0AWAYBACK", f"away {_mention('U0AWAYDEPUTY')}")

    assert reply == "Until you say `/countersign back`, <@U0AWAYDEPUTY> can decide requests that name you."
    assert away.store.people.get("U0AWAYBACK").away_until is None

    assert away.slash("U0AWAYBACK", "back") == "Welcome back: requests that name you are yours alone again."
    assert away.store.people.get("U0AWAYBACK").delegate is None
    assert [e.actor for e in _audit(away, "away_ended")].count("U0AWAYBACK") >= 1


def test_back_when_not_away_says_so(away: Local) -> None:
    assert away.slash("U0NEVERAWAY", "back") == "You were not away: nobody stands in for you."


def test_away_refuses_a_date_that_has_passed(away: Local) -> None:
    reply = away.slash("U0AWAYPAST", f"away {_mention('U0AWAYDEPUTY')} until 2020-01-31")

    assert reply == "2020-01-31 has passed: say until when you will be away."
    assert away.store.people.get("U0AWAYPAST").delegate is None


def test_away_refuses_what_is_not_a_date(away: Local) -> None:
    reply = away.slash("U0AWAYPAST", f"away {_mention('U0AWAYDEPUTY')} until tomorrow")

    assert "`tomorrow` is not a date" in reply
    assert away.store.people.get("U0AWAYPAST").delegate is None


def test_away_refuses_yourself(away: Local) -> None:
    reply = away.slash("U0AWAYSELF", f"away {_mention('U0AWAYSELF')}")

    assert reply == "You cannot stand in for yourself: name a colleague."
    assert away.store.people.get("U0AWAYSELF").delegate is None


def test_away_refuses_an_app(away: Local) -> None:
    reply = away.slash("U0AWAYSELF", "away <@U0BOT|countersign>")

    assert reply == "<@U0BOT> is an app, not a person."
    assert away.store.people.get("U0AWAYSELF").delegate is None


def test_away_refuses_a_name_slack_did_not_turn_into_a_mention(away: Local) -> None:
    reply = away.slash("U0AWAYSELF", "away @jordan until 2099-01-01")

    assert "I could not tell who `@jordan` is" in reply
    assert away.store.people.get("U0AWAYSELF").delegate is None


def test_the_delegate_approves_for_the_away_approver_and_the_message_says_so(away: Local) -> None:
    away.slash("U0AWAYCFO", f"away {_mention('U0AWAYDEPUTY')}")
    approval = away.start_run("Refund order #801 for $801")

    away.click("U0AWAYDEPUTY", ActionId.APPROVE, approval)

    assert "Refunded $801.00 for order #801" in away.outcome(approval)
    decision = away.store.requests.get(approval.id).action.decision
    assert decision is not None and (decision.decided_by, decision.for_user) == ("U0AWAYDEPUTY", "U0AWAYCFO")
    shown = "*Approved* by <@U0AWAYDEPUTY> for <@U0AWAYCFO>"
    wait_until(lambda: shown in str(away.message(approval)["blocks"]), 10, "the message showing the decision")
    [decided] = _audit(away, "decided", approval.id)
    assert decided.actor == "U0AWAYDEPUTY" and decided.detail["for_user"] == "U0AWAYCFO"


def test_the_delegate_of_a_member_of_an_approver_group_decides_for_them(away: Local) -> None:
    away.slack.add_usergroup("treasury", ["U0TREASURER"])
    away.slash("U0TREASURER", f"away {_mention('U0TREASDEPUTY')}")
    approval = away.start_run("Refund order #802 for $802")

    away.click("U0TREASDEPUTY", ActionId.APPROVE, approval)

    assert "Refunded $802.00 for order #802" in away.outcome(approval)
    decision = away.store.requests.get(approval.id).action.decision
    assert decision is not None and decision.for_user == "U0TREASURER"


def test_someone_who_is_nobodys_delegate_is_still_refused(away: Local) -> None:
    away.slash("U0AWAYCFO", f"away {_mention('U0AWAYDEPUTY')}")
    approval = away.start_run("Refund order #8011 for $801")

    away.click("U0AWAYOTHER", ActionId.APPROVE, approval)

    assert "only <@U0AWAYCFO> may decide this request" in away.ephemeral_to("U0AWAYOTHER")[0]
    assert away.store.requests.get(approval.id).is_pending


def test_the_delegate_may_not_approve_a_run_they_asked_for(away: Local) -> None:
    away.slash("U0AWAYCFO", f"away {_mention('U0AWAYASKER')}")
    approval = away.start_run("Refund order #8012 for $801", user="U0AWAYASKER")

    away.click("U0AWAYASKER", ActionId.APPROVE, approval)

    assert "you asked for this run" in away.ephemeral_to("U0AWAYASKER")[0]
    assert away.store.requests.get(approval.id).is_pending


def test_the_delegate_may_not_approve_for_the_approver_a_run_the_approver_asked_for(away: Local) -> None:
    away.slash("U0AWAYCFO", f"away {_mention('U0AWAYDEPUTY2')}")
    approval = away.start_run("Refund order #8013 for $801", user="U0AWAYCFO")

    away.click("U0AWAYDEPUTY2", ActionId.APPROVE, approval)

    assert "you stand in for <@U0AWAYCFO>, who asked for this run" in away.ephemeral_to("U0AWAYDEPUTY2")[0]
    assert away.store.requests.get(approval.id).is_pending


def test_the_delegation_ends_at_its_until(away: Local) -> None:
    until = (datetime.now(UTC) + timedelta(days=3)).date()
    away.slash("U0AWAYCFO", f"away {_mention('U0AWAYDEPUTY3')} until {until.isoformat()}")
    approval = away.start_run("Refund order #8014 for $801")

    away.clock.move_to(datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1, seconds=1))
    away.click("U0AWAYDEPUTY3", ActionId.APPROVE, away.store.requests.get(approval.id))

    assert "only <@U0AWAYCFO> may decide this request" in away.ephemeral_to("U0AWAYDEPUTY3")[0]
    assert away.store.requests.get(approval.id).is_pending


def test_an_approver_and_their_delegate_count_once_toward_a_quorum(away: Local) -> None:
    away.slash("U0QUORUMA", f"away {_mention('U0QUORUMDEP')}")
    approval = away.start_run("Refund order #803 for $803")

    assert _confirm(away, "U0QUORUMDEP", approval) == {}  # one of two, for U0QUORUMA
    refused = _confirm(away, "U0QUORUMA", away.store.requests.get(approval.id))
    assert "<@U0QUORUMDEP> already approved this for <@U0QUORUMA>" in str(refused["errors"])
    assert away.store.requests.get(approval.id).is_pending
    assert _confirm(away, "U0QUORUMB", away.store.requests.get(approval.id)) == {}

    assert "Refunded $803.00 for order #803" in away.outcome(approval)
    done = away.store.requests.get(approval.id).action
    assert done.votes == ["U0QUORUMDEP", "U0QUORUMB"] and done.votes_for == {"U0QUORUMDEP": "U0QUORUMA"}
    shown = "<@U0QUORUMDEP> for <@U0QUORUMA>, <@U0QUORUMB>"
    wait_until(lambda: shown in str(away.message(approval)["blocks"]), 10, "the message showing the decision")
    voted = _audit(away, "voted", approval.id)
    assert [(e.actor, e.detail.get("for_user")) for e in voted] == [("U0QUORUMDEP", "U0QUORUMA"), ("U0QUORUMB", None)]


def test_a_delegate_vote_for_an_approver_who_already_voted_is_refused(away: Local) -> None:
    approval = away.start_run("Refund order #8031 for $803")
    _confirm(away, "U0QUORUMA", approval)
    away.slash("U0QUORUMA", f"away {_mention('U0QUORUMDEP2')}")

    refused = _confirm(away, "U0QUORUMDEP2", away.store.requests.get(approval.id))

    assert "<@U0QUORUMA> already approved this, and a person counts once" in str(refused["errors"])
    assert away.store.requests.get(approval.id).action.votes == ["U0QUORUMA"]


def test_the_home_tabs_list_holds_what_the_delegate_may_decide(away: Local) -> None:
    away.slash("U0AWAYCFO", f"away {_mention('U0AWAYHOMEDEP')}")
    mine = away.start_run("Refund order #8015 for $801")
    theirs = away.start_run("Refund order #8016 for $801", user="U0AWAYCFO")  # asked by the absent approver

    # What the Home tab pages through, without the requests of the session's channel (everyone decides those).
    listed = [r.id for r in Deciding(away.store, away.queue, clock=away.clock).pending_for("U0AWAYHOMEDEP", 100).requests]

    assert mine.id in listed and theirs.id not in listed


def test_away_refuses_a_deactivated_colleague(away: Local) -> None:
    away.slack.deactivate("U0AWAYGONE")

    reply = away.slash("U0AWAYSELF", f"away {_mention('U0AWAYGONE')}")

    assert reply == "<@U0AWAYGONE> is deactivated."
    assert away.store.people.get("U0AWAYSELF").delegate is None


def test_the_home_tab_says_whom_a_delegate_decides_a_request_for(away: Local) -> None:
    away.slash("U0AWAYCFO", f"away {_mention('U0AWAYHOMEDEP2')}")
    theirs = away.start_run("Refund order #8017 for $801")  # decided by the absent CFO
    everyones = away.start_run("Refund order #8018 for $250")  # decided by the channel's members, the delegate among them

    home = json.dumps(away.home_showing("U0AWAYHOMEDEP2", theirs.id))
    ours = json.dumps(away.home_showing("U0AWAYHOMEDEP2", everyones.id))

    row = next(part for part in home.split('"type": "divider"') if theirs.id in part)
    assert "you decide it for <@U0AWAYCFO>, who is away" in row
    row = next(part for part in ours.split('"type": "divider"') if everyones.id in part)
    assert "you decide it for" not in row


def test_the_delegate_is_sent_by_dm_the_requests_already_waiting_by_dm_on_the_away_approver(away: Local) -> None:
    approval = away.start_run("Refund order #804 for $804")
    assert dm_of(away, "U0DMAWAYDEP", approval) is None

    away.slash("U0DMAWAYCFO", f"away {_mention('U0DMAWAYDEP')}")

    dm = wait_until(lambda: dm_of(away, "U0DMAWAYDEP", approval), 10, "the delegate's DM of the waiting request")
    assert buttons(dm) == ALL_BUTTONS
    line = "Sent by DM to <@U0DMAWAYCFO>, <@U0DMAWAYDEP>, who decide it there"
    wait_until(lambda: line in shown(away.message(approval)), 10, "the channel line naming the delegate")


def test_the_delegate_decides_for_the_away_approver_from_the_dm_they_were_sent(away: Local) -> None:
    approval = away.start_run("Refund order #8041 for $804")
    away.slash("U0DMAWAYCFO", f"away {_mention('U0DMAWAYDEP2')}")

    click_in_dm(away, "U0DMAWAYDEP2", ActionId.APPROVE, approval)

    assert "Refunded $804.00 for order #8041" in away.outcome(approval)
    decision = away.store.requests.get(approval.id).action.decision
    assert decision is not None and (decision.decided_by, decision.for_user) == ("U0DMAWAYDEP2", "U0DMAWAYCFO")


def _announce_stand_in(local: Local, away: str, delegate: str) -> int:
    """What `/countersign away` does after its answer, done here and now: every waiting request has been told of once
    it returns."""
    deciding = Deciding(local.store, local.queue, front_end=local.runtime.front_end, clock=local.clock)
    return deciding.announce_stand_in(away, delegate)


def test_a_waiting_request_is_sent_to_the_delegate_once_however_often_they_are_named(away: Local) -> None:
    approval = away.start_run("Refund order #8042 for $804")
    away.store.people.set_away("U0DMAWAYCFO", "U0DMAWAYDEP3", None)

    assert _announce_stand_in(away, "U0DMAWAYCFO", "U0DMAWAYDEP3") >= 1
    _announce_stand_in(away, "U0DMAWAYCFO", "U0DMAWAYDEP3")

    copies = [m for m in away.slack.dm_messages("U0DMAWAYDEP3") if approval.id in json.dumps(m)]
    assert len(copies) == 1 and buttons(copies[0]) == ALL_BUTTONS


def test_the_delegate_is_not_sent_by_dm_a_request_its_rule_posts_in_a_channel(away: Local) -> None:
    approval = away.start_run("Refund order #8019 for $801")  # decided by the absent CFO, in the channel
    away.store.people.set_away("U0AWAYCFO", "U0AWAYCHANDEP", None)

    assert _announce_stand_in(away, "U0AWAYCFO", "U0AWAYCHANDEP") >= 1

    assert dm_of(away, "U0AWAYCHANDEP", approval) is None and away.slack.dm_messages("U0AWAYCHANDEP") == []
    assert buttons(away.message(approval)) == ALL_BUTTONS
