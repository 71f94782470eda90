"""Admins set timeouts and escalation from Slack; new requests follow at once; everyone else is refused."""

from __future__ import annotations

import re

from approvals.policies import Rule
from tests.local import Local
from tests.policies import FINANCE_REFUNDS


def _admin(local: Local, text: str, user: str = "U0ADMIN") -> str:
    return local.slash(user, text)


def test_non_admin_is_refused(local: Local) -> None:
    text = _admin(local, "timeout payments_admin 15m", user="U0NOTADMIN")

    assert text.startswith("Only Countersign's admins may use `/countersign timeout`.")
    assert not [e for e in local.store.audit_log.audit_events() if e.event == "setting_changed" and e.actor == "U0NOTADMIN"]


def test_bad_arguments_get_the_usage_line(local: Local) -> None:
    text = _admin(local, "timeout payments_admin soon")

    assert text.startswith("'soon' is not a duration like 30s, 15m, 4h or 2d")
    assert "/countersign timeout <agent>[.<tool>] <duration>" in text


def test_member_of_the_admin_group_may_use_admin_commands(local: Local) -> None:
    local.slack.add_usergroup("countersign-admins", ["U0GROUPADMIN"])

    assert not _admin(local, "pending", user="U0GROUPADMIN").startswith("Only Countersign's admins")


def test_timeout_set_in_slack_applies_to_new_requests_and_is_audited(local: Local) -> None:
    text = _admin(local, "timeout payments_admin.refund 2s reject")

    assert text.startswith("`payments_admin.refund` now: timeout 2s, then reject (was:")
    change = [e for e in local.store.audit_log.audit_events() if e.event == "setting_changed"][-1]
    assert change.actor == "U0ADMIN" and change.detail["to"] == {"timeout": "2s", "on_timeout": "reject"}
    approval = local.start_run("Refund order #190 for $250", agent="payments_admin")
    assert (approval.deadline_at - approval.created_at).total_seconds() == 2
    local.fire_due(approval.deadline_at)
    assert local.store.requests.get(approval.id).status == "expired"


def test_escalation_set_in_slack_reposts_in_the_stage_channel(local: Local) -> None:
    text = _admin(local, "escalation payments_escalation <#C0ADMINESC|ops> 30m <!subteam^S0ONCALL|@oncall>")
    assert "stage 1: <#C0ADMINESC> (<!subteam^S0ONCALL>) for 30m" in text
    _admin(local, "timeout payments_escalation 2s escalate")

    approval = local.start_run("Refund order #191 for $250", agent="payments_escalation")
    local.fire_due(approval.deadline_at)

    posted = local.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0ADMINESC")
    assert approval.id in str(posted.params["blocks"])


def test_pending_lists_requests_with_links(local: Local) -> None:
    approval = local.start_run("Refund order #192 for $250")

    text = _admin(local, "pending")

    link = f"https://emulated.slack.com/archives/{approval.channel}/p{local.ts_of(approval).replace('.', '')}"
    assert re.search(rf"<{re.escape(link)}\|payments: `refund`>", text)


def test_settings_shows_the_rules_and_what_was_set_in_slack(local: Local) -> None:
    local.policies(FINANCE_REFUNDS)
    _admin(local, "timeout payments_admin.lookup_order 45m")

    text = _admin(local, "settings")

    assert "*Policy rules* (first match wins):" in text
    assert "*finance refunds*: `payments.refund` when `amount >= 5000`: hard" in text
    assert "• `payments_admin.lookup_order`: timeout 45m, by <@U0ADMIN>" in text


def test_settings_says_what_each_rule_does_at_its_deadline(local: Local) -> None:
    local.policies(
        Rule(name="soft go-ahead", tool="refund", when="amount == 12", level="soft", timeout="2s"),
        Rule(name="quick expiry", tool="refund", when="amount == 11", timeout="2s"),
    )
    text = _admin(local, "settings")

    assert "*soft go-ahead*: `*.refund` when `amount == 12`: soft, anyone, timeout 2s then approve" in text
    assert "*quick expiry*: `*.refund` when `amount == 11`: hard, anyone, timeout 2s then reject" in text
    assert "then None" not in text


def test_help_shows_admins_their_commands(local: Local) -> None:
    assert "*Admin commands*" in _admin(local, "help")
    assert "*Admin commands*" not in _admin(local, "help", user="U0SOMEONE")
