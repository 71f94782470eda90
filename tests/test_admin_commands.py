"""Admins set timeouts and escalation from Slack; new requests follow at once; everyone else is refused."""

from __future__ import annotations

import re

from tests.stack import Stack, wait_until


def _admin(stack: Stack, text: str, user: str = "U0ADMIN") -> str:
    return stack.slash(user, text)


def test_non_admin_is_refused(stack: Stack) -> None:
    text = _admin(stack, "timeout payments_admin 15m", user="U0NOTADMIN")

    assert text.startswith("Only Countersign's admins may use `/countersign timeout`.")
    assert not [e for e in stack.store.audit_events() if e.event == "setting_changed" and e.actor == "U0NOTADMIN"]


def test_bad_arguments_get_the_usage_line(stack: Stack) -> None:
    text = _admin(stack, "timeout payments_admin soon")

    assert text.startswith("'soon' is not a duration like 30s, 15m, 4h or 2d")
    assert "/countersign timeout <agent>[.<tool>] <duration>" in text


def test_member_of_the_admin_group_may_use_admin_commands(stack: Stack) -> None:
    stack.slack.add_usergroup("countersign-admins", ["U0GROUPADMIN"])

    assert not _admin(stack, "pending", user="U0GROUPADMIN").startswith("Only Countersign's admins")


def test_timeout_set_in_slack_applies_to_new_requests_and_is_audited(stack: Stack) -> None:
    text = _admin(stack, "timeout payments_admin.refund 2s reject")

    assert text.startswith("`payments_admin.refund` now: timeout 2s, then reject (was:")
    change = [e for e in stack.store.audit_events() if e.event == "setting_changed"][-1]
    assert change.actor == "U0ADMIN" and change.detail["to"] == {"timeout": "2s", "on_timeout": "reject"}
    approval = stack.start_run("Refund order #190 for $250", agent="payments_admin")
    assert (approval.deadline_at - approval.created_at).total_seconds() == 2
    wait_until(lambda: stack.store.get(approval.id).status == "expired", 15, "the admin's deadline")


def test_escalation_set_in_slack_reposts_in_the_stage_channel(stack: Stack) -> None:
    text = _admin(stack, "escalation payments_escalation <#C0ADMINESC|ops> 30m <!subteam^S0ONCALL|@oncall>")
    assert "stage 1: <#C0ADMINESC> (<!subteam^S0ONCALL>) for 30m" in text
    _admin(stack, "timeout payments_escalation 2s escalate")

    approval = stack.start_run("Refund order #191 for $250", agent="payments_escalation")

    posted = stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "C0ADMINESC", timeout=15)
    assert approval.id in str(posted.params["blocks"])


def test_pending_lists_requests_with_links(stack: Stack) -> None:
    approval = stack.start_run("Refund order #192 for $250")

    text = _admin(stack, "pending")

    link = f"https://emulated.slack.com/archives/{approval.channel}/p{approval.message_ts.replace('.', '')}"
    assert re.search(rf"<{re.escape(link)}\|payments: `refund`>", text)


def test_settings_shows_the_rules_and_what_was_set_in_slack(stack: Stack) -> None:
    _admin(stack, "timeout payments_admin.lookup_order 45m")

    text = _admin(stack, "settings")

    assert "*Policy rules* (first match wins):" in text
    assert "*finance refunds*: `payments.refund` when `amount >= 5000`: hard" in text
    assert "• `payments_admin.lookup_order`: timeout 45m, by <@U0ADMIN>" in text


def test_settings_says_what_each_rule_does_at_its_deadline(stack: Stack) -> None:
    text = _admin(stack, "settings")

    assert "*soft go-ahead*: `*.refund` when `amount == 12`: soft, anyone, timeout 2s then approve" in text
    assert "*quick expiry*: `*.refund` when `amount == 11`: hard, anyone, timeout 2s then reject" in text
    assert "then None" not in text


def test_help_shows_admins_their_commands(stack: Stack) -> None:
    assert "*Admin commands*" in _admin(stack, "help")
    assert "*Admin commands*" not in _admin(stack, "help", user="U0SOMEONE")
