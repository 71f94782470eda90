"""App Home: approvers see what waits on them, with the same buttons; admins change settings in a form."""

from __future__ import annotations

from bot.home import NEW_SETTING
from bot.ids import ActionId, BlockId
from bot.metadata import ApprovalRef
from sandbox.driver import plain_text_value, static_select_value
from tests.local import Local
from tests.policies import FINANCE_REFUNDS


def _names(element: dict, approval_id: str) -> bool:
    """True for a button whose (signed) value names this request."""
    try:
        return ApprovalRef.load(element.get("value")).approval_id == approval_id
    except Exception:  # noqa: BLE001 - not a request's button (a setting's)
        return False


def _value(home: dict, action: str, approval_id: str) -> str:
    """The value of a request's button on the Home tab, as the bot signed it."""
    for block in home["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action and _names(element, approval_id):
                return str(element["value"])
    raise AssertionError(f"no {action} button for {approval_id} on the Home tab")


def _open_home(local: Local, user: str) -> dict:
    """Open the user's Home tab as Slack does (an app_home_opened event) and return what the app published."""

    def for_user(call) -> bool:
        return call.params.get("user_id") == user

    before = len([c for c in local.slack.calls_to("views.publish") if for_user(c)])
    local.driver.event({"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"})
    local.slack.wait_for("views.publish", for_user, count=before + 1)
    return local.slack.home_view(user)


def test_home_lists_the_requests_waiting_on_the_user_with_their_buttons(local: Local) -> None:
    approval = local.start_run("Refund order #195 for $250", user="U0HOMEASKER")

    home = local.home_showing("U0HOMER", approval.id)

    buttons = [e for b in home["blocks"] if b["type"] == "actions" for e in b["elements"] if _names(e, approval.id)]
    assert [b["action_id"] for b in buttons] == [ActionId.APPROVE, ActionId.EDIT, ActionId.RESPOND, ActionId.REJECT]
    assert "asked by <@U0HOMEASKER>" in str(home["blocks"])


def test_home_leaves_out_requests_the_user_may_not_decide(local: Local) -> None:
    local.policies(FINANCE_REFUNDS)
    mine = local.start_run("Refund order #196 for $250", user="U0HOMESELF")
    finance = local.start_run("Refund order #197 for $5000", user="U0HOMEASKER")

    home = str(_open_home(local, "U0HOMESELF")["blocks"])

    assert mine.id not in home and finance.id not in home


def test_approve_from_home_decides_the_request_and_redraws_the_tab(local: Local) -> None:
    approval = local.start_run("Refund order #198 for $250", user="U0HOMEASKER")
    home = local.home_showing("U0HOMEAPPROVER", approval.id)

    local.driver.home_action("U0HOMEAPPROVER", ActionId.APPROVE, _value(home, ActionId.APPROVE, approval.id), view=home)

    assert "Refunded $250.00 for order #198" in local.outcome(approval)
    local.slack.wait_for(
        "views.publish",
        lambda c: c.params.get("user_id") == "U0HOMEAPPROVER" and approval.id not in str(c.params["view"]),
        timeout=10,
    )


def test_admin_home_has_the_settings_and_others_do_not(local: Local) -> None:
    assert "Settings set in Slack" in str(_open_home(local, "U0ADMIN")["blocks"])
    assert "Settings set in Slack" not in str(_open_home(local, "U0NOBODY")["blocks"])


def _settings_form(local: Local) -> dict:
    home = _open_home(local, "U0ADMIN")
    response = local.driver.home_action("U0ADMIN", ActionId.EDIT_SETTING, NEW_SETTING, view=home)
    trigger = response.payload["trigger_id"]
    return local.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger).response["view"]


def _form_values(scope: str, timeout: str, outcome: str | None) -> dict:
    return {
        BlockId.SETTING_SCOPE: {ActionId.SETTING_VALUE: plain_text_value(scope)},
        BlockId.SETTING_CHANNEL: {ActionId.SETTING_VALUE: {"type": "conversations_select", "selected_conversation": "C0HOMESET"}},
        BlockId.SETTING_TIMEOUT: {ActionId.SETTING_VALUE: plain_text_value(timeout)},
        BlockId.SETTING_ON_TIMEOUT: {ActionId.SETTING_VALUE: static_select_value(outcome)},
    }


def test_settings_form_refuses_a_bad_timeout_inline(local: Local) -> None:
    view = _settings_form(local)

    response = local.driver.view_submission("U0ADMIN", view, _form_values("homeagent.refund", "tomorrow", "reject"))

    assert response.json()["errors"] == {BlockId.SETTING_TIMEOUT: "'tomorrow' is not a duration like 30s, 15m, 4h or 2d"}


def test_settings_form_saves_and_audits_the_change(local: Local) -> None:
    view = _settings_form(local)

    response = local.driver.view_submission("U0ADMIN", view, _form_values("homeagent.refund", "20m", "reject"))

    assert response.status == 200 and not response.body
    change = [e for e in local.store.audit_log.audit_events() if e.event == "setting_changed"][-1]
    assert change.detail == {
        "scope": "homeagent.refund",
        "from": {},
        "to": {"timeout": "20m", "on_timeout": "reject", "channel": "C0HOMESET"},
    }
    local.slack.wait_for(
        "views.publish",
        lambda c: "`homeagent.refund`: timeout 20m, then reject, channel <#C0HOMESET>" in str(c.params["view"]),
    )


def test_reject_in_a_modal_opened_from_home_redraws_the_tab(local: Local) -> None:
    approval = local.start_run("Refund order #199 for $250", user="U0HOMEASKER")
    home = local.home_showing("U0HOMEREJECTER", approval.id)
    click = local.driver.home_action("U0HOMEREJECTER", ActionId.REJECT, _value(home, ActionId.REJECT, approval.id), view=home)
    view = local.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == click.payload["trigger_id"])

    local.driver.view_submission(
        "U0HOMEREJECTER", view.response["view"], {BlockId.REJECT_REASON: {ActionId.REJECT_REASON: plain_text_value("No")}}
    )

    local.slack.wait_for(
        "views.publish",
        lambda c: c.params.get("user_id") == "U0HOMEREJECTER" and approval.id not in str(c.params["view"]),
        timeout=10,
    )


def test_a_click_in_the_channel_leaves_the_home_tab_alone(local: Local) -> None:
    approval = local.start_run("Refund order #200 for $250", user="U0HOMEASKER")

    local.click("U0CHANNELONLY", ActionId.APPROVE, approval)
    local.outcome(approval)

    assert not [c for c in local.slack.calls_to("views.publish") if c.params.get("user_id") == "U0CHANNELONLY"]
