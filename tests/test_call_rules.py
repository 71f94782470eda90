"""Every call is governed by its own rule, on the arguments the tool will receive: several calls in one
interrupt each follow theirs, admins' settings and "Make it soft…" reach only the calls of the rule they
name and never lower a manual rule, and an amount a model sends as text is judged as the number it is."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from approvals.admin_settings import AdminSettings
from approvals.gates import request_gate
from approvals.models import POLICY_DECIDER, Level
from approvals.policies import Rule
from bot.ids import ActionId
from sandbox.emulator import Channel
from tests.local import Local
from tests.stack import Stack

CFO_REFUNDS = Rule(name="cfo refunds", agent="lookup_and_refund", tool="refund", approvers=["U0CFO"])
SELF_SERVICE_LOOKUPS = Rule(name="self-service lookups", agent="lookup_and_refund", tool="lookup_order", allow_self_approval=True)
TWO_PERSON = Rule(
    name="two-person refunds", agent="payments_rules", tool="refund", when="amount >= 10000", level="manual", quorum=2
)
OTHER_REFUNDS = Rule(name="other refunds", agent="payments_rules", tool="refund")
TWO_PERSON_TEXT = Rule(
    name="two-person refunds", agent="payments_text_amounts", tool="refund", when="amount >= 10000", level="manual", quorum=2
)
TINY_TEXT = Rule(name="tiny refunds", agent="payments_text_amounts", tool="refund", when="amount <= 1", level="auto")


@pytest.fixture
def admin_settings(local: Local) -> Iterator[AdminSettings]:
    """The admins' settings, emptied again after the test (the in-process tier's database is shared)."""
    settings = AdminSettings(local.store.db.engine)
    yield settings
    for scoped in settings.all():
        settings.change(scoped.scope, "U0ADMIN", **dict.fromkeys(scoped.override.model_dump(exclude_none=True)))


def test_approve_all_by_the_requester_decides_only_the_call_their_rule_lets_them(local: Local) -> None:
    local.policies(SELF_SERVICE_LOOKUPS, CFO_REFUNDS)
    approval = local.start_run("Refund order #9001 for $9000", user="U0REQ9001", agent="lookup_and_refund")

    local.click("U0REQ9001", ActionId.APPROVE_ALL, approval)

    now = local.store.requests.get(approval.id)
    lookup, refund = now.actions
    assert lookup.decision is not None and lookup.decision.decided_by == "U0REQ9001"
    assert refund.decision is None and now.is_pending
    assert "`refund`: <@U0CFO> (rule _cfo refunds_)" in local.ephemeral_to("U0REQ9001")[0]
    assert local.refunds_of("9001") == 0


def test_the_call_the_clicker_may_not_decide_runs_once_its_own_approver_approves(local: Local) -> None:
    local.policies(SELF_SERVICE_LOOKUPS, CFO_REFUNDS)
    approval = local.start_run("Refund order #9002 for $9000", user="U0REQ9002", agent="lookup_and_refund")
    local.click("U0REQ9002", ActionId.APPROVE_ALL, approval)

    local.click("U0CFO", ActionId.APPROVE_ALL, local.store.requests.get(approval.id))

    assert "Refunded $9000.00 for order #9002" in local.outcome(approval)
    assert local.refunds_of("9002") == 1


def test_each_call_of_a_request_under_several_rules_shows_its_own_rule(local: Local) -> None:
    local.policies(SELF_SERVICE_LOOKUPS, CFO_REFUNDS)
    approval = local.start_run("Refund order #9003 for $9000", user="U0REQ9003", agent="lookup_and_refund")

    text = str(local.message(approval)["blocks"])

    assert "Rule _self-service lookups_: anyone here may decide" in text
    assert "Rule _cfo refunds_: <@U0CFO> but <@U0REQ9003> may decide" in text


def test_an_admin_setting_for_one_tool_governs_only_that_tools_calls(local: Local, admin_settings: AdminSettings) -> None:
    local.policies(CFO_REFUNDS)
    admin_settings.change("lookup_and_refund.lookup_order", "U0ADMIN", level="auto")

    approval = local.start_run("Refund order #9004 for $9000", user="U0REQ9004", agent="lookup_and_refund")

    lookup, refund = approval.actions
    assert lookup.decision is not None and lookup.decision.decided_by == POLICY_DECIDER
    assert refund.decision is None and approval.is_pending and approval.gate_of(1).approvers == ["U0CFO"]
    assert local.refunds_of("9004") == 0


def test_making_one_rule_soft_leaves_the_tools_other_rules_alone(local: Local, admin_settings: AdminSettings) -> None:
    local.policies(TWO_PERSON, OTHER_REFUNDS)
    admin_settings.change("payments_rules.refund#other refunds", "U0ADMIN", level="soft")

    small = local.start_run("Refund order #9005 for $250", agent="payments_rules")
    big = local.start_run("Refund order #9006 for $20000", agent="payments_rules")

    assert (small.gate.rule, small.gate.level, small.gate.on_timeout) == ("other refunds", Level.SOFT, "approve")
    assert (big.gate.rule, big.gate.level, big.gate.quorum, big.gate.on_timeout) == (
        "two-person refunds",
        Level.MANUAL,
        2,
        "reject",
    )


def test_a_setting_for_a_whole_tool_never_lowers_a_manual_rule_or_its_quorum(local: Local, admin_settings: AdminSettings) -> None:
    local.policies(TWO_PERSON, OTHER_REFUNDS)
    admin_settings.change("payments_rules.refund", "U0ADMIN", level="soft", on_timeout="approve")

    big = local.start_run("Refund order #9007 for $20000", agent="payments_rules")
    assert big.deadline_at is not None
    local.fire_due(big.deadline_at + timedelta(seconds=1))

    assert (big.gate.level, big.gate.quorum, big.gate.on_timeout) == (Level.MANUAL, 2, "reject")
    assert "Refunded" not in str(local.store.requests.get(big.id).run.outcome)


def test_an_amount_sent_as_text_is_judged_as_the_number_the_tool_receives(local: Local) -> None:
    local.policies(TINY_TEXT, TWO_PERSON_TEXT)

    approval = local.start_run("Refund order #9008 for $25000", agent="payments_text_amounts")

    assert approval.action.args["amount"] == "25000"
    assert (approval.gate.rule, approval.gate.level, approval.gate.quorum) == ("two-person refunds", Level.MANUAL, 2)


def test_requester_approve_all_through_the_real_processes_leaves_the_cfos_call_waiting(stack: Stack) -> None:
    # tests/policies.yml: `lookup_and_refund`'s lookups are self-service, its refunds the CFO's.
    approval = stack.start_run("Refund order #9009 for $9000", user="U0REQ9009", agent="lookup_and_refund")

    stack.click("U0REQ9009", ActionId.APPROVE_ALL, approval)
    assert "`refund`: <@U0CFO>" in stack.ephemeral_to("U0REQ9009")[0]
    assert stack.refunds_of("9009") == 0

    stack.click("U0CFO", ActionId.APPROVE_ALL, stack.store.requests.get(approval.id))
    assert "Refunded $9000.00 for order #9009" in stack.outcome(approval)
    assert stack.refunds_of("9009") == 1


FINANCE_STEP = Rule(name="finance step", agent="breakpoint_refunds", tool="refund", channel="C0FINANCE")


def test_a_later_request_of_a_run_goes_to_its_rules_channel_linked_from_the_runs_thread(local: Local) -> None:
    local.policies(FINANCE_STEP)
    lookup = local.start_run("Refund order #9010 for $250", agent="breakpoint_refunds")
    local.click("U0APPROVER", ActionId.APPROVE, lookup)

    refund = local.wait_for_request(lookup.thread_id, count=2)

    assert refund.channel == "C0FINANCE" and "thread_ts" not in local.message(refund)
    link = local.slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("thread_ts") == local.ts_of(lookup) and "waits for a decision" in str(c.params)
    )
    assert "`refund` waits for a decision in <#C0FINANCE>" in link.params["text"]


def test_a_request_of_a_soft_and_a_hard_call_rejects_at_the_earliest_of_their_deadlines() -> None:
    soft = Rule(name="soft", level="soft", timeout="15m").gate()
    hard = Rule(name="hard", timeout="1h").gate()

    combined = request_gate([soft, hard])

    assert (combined.on_timeout, combined.timeout, combined.level) == ("reject", timedelta(minutes=15), Level.HARD)


def test_a_request_whose_calls_all_go_ahead_at_their_deadlines_goes_ahead_at_the_latest() -> None:
    quick = Rule(name="quick", level="soft", timeout="15m").gate()
    slow = Rule(name="slow", level="soft", timeout="1h").gate()

    combined = request_gate([quick, slow])

    assert (combined.on_timeout, combined.timeout) == ("approve", timedelta(hours=1))


def test_a_request_escalates_as_its_strictest_escalating_rule_and_approves_at_the_end_only_if_all_would() -> None:
    stages = [{"channel": "C0ONCALL", "timeout": "10m"}]
    escalating = Rule(
        name="escalating", level="soft", timeout="5m", on_timeout="escalate", escalation=stages, final_on_timeout="approve"
    )
    hard = Rule(name="hard", timeout="1h").gate()

    combined = request_gate([escalating.gate(), hard])

    assert (combined.on_timeout, combined.final_on_timeout) == ("escalate", "reject")
    assert [stage.channel for stage in combined.escalation] == ["C0ONCALL"]


OPS_LOOKUPS = Rule(name="ops lookups", agent="lookup_and_refund", tool="lookup_order", channel="C0OPSLOOKUPS")
FINANCE_REFUNDS_HERE = Rule(
    name="finance refunds here", agent="lookup_and_refund", tool="refund", approvers=["U0CFO"], channel="C0FINREFUNDS"
)


def test_a_call_whose_rule_names_a_channel_is_announced_and_decided_there_wherever_the_request_was_posted(local: Local) -> None:
    local.slack.add_channel(Channel("C0OPSLOOKUPS", "ops-lookups", members=("U0OPSLOOKER",), private=True))
    local.slack.add_channel(Channel("C0FINREFUNDS", "fin-refunds", members=("U0FINPEER", "U0CFO"), private=True))
    local.policies(OPS_LOOKUPS, FINANCE_REFUNDS_HERE)
    approval = local.start_run("Refund order #9011 for $9000", user="U0REQ9011", agent="lookup_and_refund")
    assert approval.channel == "C0FINREFUNDS"  # the stricter rule's channel holds the message

    pointer = local.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0OPSLOOKUPS")
    assert "`lookup_order` waits for a decision under rule _ops lookups_" in pointer.params["text"]

    local.click("U0FINPEER", ActionId.APPROVE_ALL, approval)  # in the channel, but the lookup is #ops-lookups'
    assert "Nothing changed" in local.ephemeral_to("U0FINPEER")[0]
    assert local.store.requests.get(approval.id).actions[0].decision is None

    local.click("U0OPSLOOKER", ActionId.APPROVE_ALL, approval)
    lookup = local.store.requests.get(approval.id).actions[0]
    assert lookup.decision is not None and lookup.decision.decided_by == "U0OPSLOOKER"


def test_the_lists_show_a_request_to_the_members_of_a_calls_own_channel_not_to_those_of_the_messages(local: Local) -> None:
    local.slack.add_channel(Channel("C0OPSLOOKUPS", "ops-lookups", members=("U0OPSLOOKER",), private=True))
    local.slack.add_channel(Channel("C0FINREFUNDS", "fin-refunds", members=("U0FINPEER", "U0CFO"), private=True))
    local.policies(OPS_LOOKUPS, FINANCE_REFUNDS_HERE)
    approval = local.start_run("Refund order #9012 for $9000", user="U0REQ9012", agent="lookup_and_refund")

    def listed_to(user: str, channels: list[str]) -> bool:
        return approval.id in {a.id for a in local.store.lists.pending_for(user, [], 1000, channels=channels).requests}

    assert "C0OPSLOOKUPS" in local.store.lists.pending_member_channels()
    assert listed_to("U0OPSLOOKER", ["C0OPSLOOKUPS"]) and listed_to("U0CFO", ["C0FINREFUNDS"])
    assert not listed_to("U0FINPEER", ["C0FINREFUNDS"])  # in the message's channel, yet may decide neither call
