"""Admins see the approval figures and flags in Slack (`/countersign stats`, the App Home tab), and act on a
flag through a confirmation that changes the setting and leaves an audit row; nothing changes silently."""

from __future__ import annotations

from typing import Any

import pytest

from approvals.admin_settings import AdminSettings
from approvals.runs import RunRequest, start_run
from bot.ids import ActionId, CallbackId
from bot.metadata import ProposalRef
from sandbox.emulator import Call
from tests.local import Local
from tests.stack import wait_until

AGENT = "payments_stats"
# Where the stats reply's buttons are: an ephemeral message in the channel the command was typed in.
_IN_THE_REPLY: dict[str, Any] = {"channel_id": "C0REQUESTS", "container_message_ts": "1700000000.000100", "is_ephemeral": True}


@pytest.fixture(scope="module")
def approved_unchanged(local_countersign_session: Local) -> None:
    """Ten refunds by the `payments_stats` agent, each approved as proposed by a person."""
    local = local_countersign_session
    # As the `local` fixture starts each test: a test before may have moved the clock past these deadlines.
    local.policies()
    local.clock.reset()
    requests = [
        RunRequest(agent=AGENT, input_text=f"Refund order #{300 + n} for $250", requested_by="U0ASKER") for n in range(10)
    ]
    for request in requests:
        start_run(request, local.store, local.queue)
    approvals = [local.wait_for_request(request.thread_id) for request in requests]
    for approval in approvals:
        local.click("U0STATSAPPROVER", ActionId.APPROVE, approval)
    # The figures count decided requests; a click answered after Slack's 3 s records its decision after.
    wait_until(lambda: not any(local.store.requests.get(a.id).is_pending for a in approvals), 20, "ten approvals decided")


def _stats(local: Local, text: str, user: str = "U0ADMIN") -> Call:
    """Run `/countersign <text>` and return what the bot answered through the response_url."""
    before = len(local.slack.calls_to("response_url"))
    response = local.driver.slash_command(user, "/countersign", text)
    assert response.status == 200 and not response.body  # acked at once, answered after
    found = local.slack.wait_for("response_url", count=before + 1)
    return found[-1] if isinstance(found, list) else found


def _texts(blocks: list[dict[str, Any]]) -> str:
    """The section, header and context texts of some blocks, one after another."""
    found = []
    for block in blocks:
        found.append(str(block.get("text", {}).get("text", "")))
        if block["type"] == "context":
            found.extend(element["text"] for element in block["elements"])
    return "\n".join(found)


def _proposal_button(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    [button] = [b["accessory"] for b in blocks if b.get("accessory", {}).get("action_id") == ActionId.PROPOSE_CHANGE]
    return button


def test_stats_are_for_admins_only(local: Local) -> None:
    text = local.slash("U0NOTADMIN", "stats")

    assert text.startswith("Only Countersign's admins may use `/countersign stats`.")


def test_stats_with_a_bad_window_get_the_usage_line(local: Local) -> None:
    answer = _stats(local, "stats payments 400d")

    assert answer.params["text"].startswith("`400d` is not a window between 1s and 366d.")


def test_admin_sees_a_checkpoints_figures_and_flag(local: Local, approved_unchanged: None) -> None:
    answer = _stats(local, f"stats {AGENT}.refund 30d")

    blocks = answer.params["blocks"]
    text = _texts(blocks)
    assert answer.params["response_type"] == "ephemeral"
    assert blocks[0]["text"]["text"] == "Approvals, last 30d"
    assert f"*{AGENT}.refund* · rule _default (no rule matched)_ (hard) · 10 requests" in text
    assert "approved    ████████████████████ 100 %    10" in text
    assert ":warning: approved unchanged 100 % (&gt; 95 %): consider soft or auto" in text
    assert _proposal_button(blocks)["text"]["text"] == "Make it soft…"


def test_admin_home_shows_the_figures_as_bar_charts(local: Local, approved_unchanged: None) -> None:
    before = len([c for c in local.slack.calls_to("views.publish") if c.params.get("user_id") == "U0ADMIN"])
    local.driver.event({"type": "app_home_opened", "user": "U0ADMIN", "channel": "D0HOME", "tab": "home"})
    local.slack.wait_for("views.publish", lambda c: c.params.get("user_id") == "U0ADMIN", count=before + 1)

    blocks = local.slack.home_view("U0ADMIN")["blocks"]

    assert "Approvals, last 7d" in [b["text"]["text"] for b in blocks if b["type"] == "header"]
    assert f"*{AGENT}.refund* · rule _default (no rule matched)_ (hard)" in _texts(blocks)
    assert "█" in _texts(blocks)


def test_acting_on_a_flag_asks_first_then_changes_the_setting_with_an_audit_row(local: Local, approved_unchanged: None) -> None:
    blocks = _stats(local, f"stats {AGENT}").params["blocks"]
    button = _proposal_button(blocks)
    settings = AdminSettings(local.store.db.engine)

    click = local.driver.block_action("U0ADMIN", ActionId.PROPOSE_CHANGE, button["value"], **_IN_THE_REPLY)
    opened = local.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == click.payload["trigger_id"])
    view = opened.response["view"]

    assert view["callback_id"] == CallbackId.PROPOSAL_MODAL
    rule = "default (no rule matched)"
    assert f"Make `{AGENT}.refund` calls under rule *{rule}* a *soft* checkpoint for new requests?" in _texts(view["blocks"])
    assert "Only the calls this rule governs change" in _texts(view["blocks"])
    assert settings.get(f"{AGENT}.refund#{rule}").level is None  # nothing changed yet

    submitted = local.driver.view_submission("U0ADMIN", view, {})

    assert submitted.status == 200 and not submitted.body
    assert settings.get(f"{AGENT}.refund#{rule}").level == "soft"
    assert settings.get(f"{AGENT}.refund").level is None  # the tool's calls under other rules keep theirs
    change = [e for e in local.store.audit_log.audit_events() if e.event == "setting_changed"][-1]
    assert change.actor == "U0ADMIN"
    assert change.detail == {
        "scope": f"{AGENT}.refund#{rule}",
        "from": {},
        "to": {"level": "soft"},
        "because": "100 % approved unchanged (10 of 10) over 7d",
    }
    told = local.ephemeral_to("U0ADMIN")
    assert any(f"`{AGENT}.refund` calls under rule *{rule}* now: level soft (was: policy defaults)" in t for t in told)
    later = local.start_run("Refund order #320 for $250", agent=AGENT)
    assert (later.gate.level, later.gate.on_timeout) == ("soft", "approve")


def test_a_proposal_from_someone_not_an_admin_changes_nothing(local: Local) -> None:
    ref = ProposalRef(scope=f"{AGENT}.lookup_order", level="soft", because="forged")
    settings = AdminSettings(local.store.db.engine)

    click = local.driver.block_action("U0NOTADMIN", ActionId.PROPOSE_CHANGE, ref.dump(), **_IN_THE_REPLY)
    view = {
        "id": "V0FORGED",
        "type": "modal",
        "callback_id": CallbackId.PROPOSAL_MODAL,
        "private_metadata": ref.dump(),
        "blocks": [],
    }
    local.driver.view_submission("U0NOTADMIN", view, {})

    assert click.status == 200
    assert not local.slack.calls_to("views.open") or all(
        c.params.get("trigger_id") != click.payload["trigger_id"] for c in local.slack.calls_to("views.open")
    )
    assert settings.get(f"{AGENT}.lookup_order").level is None
