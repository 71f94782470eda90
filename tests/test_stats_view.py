"""The stats surfaces (the `/countersign stats` reply, the admins' Home section, the proposal's confirmation)
parsed with slack_sdk.models and kept within Slack's limits however many checkpoints there are."""

from __future__ import annotations

from datetime import timedelta

from slack_sdk.models.views import View

from approvals.admin_settings import Override, ScopedOverride
from approvals.models import Level, utcnow
from approvals.stats import (
    CheckpointStats,
    Figures,
    Flag,
    Proposal,
    Reason,
    StatsReport,
)
from bot.home import HOME_MAX_BLOCKS, home_view
from bot.ids import ActionId, BlockId, CallbackId
from bot.metadata import ProposalRef
from bot.proposal_modal import proposal_modal
from bot.settings_modal import parse_settings_submission, settings_modal
from bot.stats_view import bar, stats_message
from sandbox.driver import static_select_value
from tests.test_block_kit import approval, texts, valid_message, valid_modal

PROPOSAL = Proposal(scope="payments.refund", level=Level.SOFT, because="97 % approved unchanged (58 of 60) over 7d")


def _checkpoint(n: int, flagged: bool = True) -> CheckpointStats:
    figures = Figures(
        requests=60,
        approved=58,
        rejected=2,
        escalated=1,
        p50_seconds=240,
        p90_seconds=4000,
        top_reasons=[Reason(text="<!channel> wrong *amount*", count=2)],
    )
    flags = [Flag(kind="unchanged", text="approved unchanged 97 % (> 95 %): consider soft or auto", proposal=PROPOSAL)]
    return CheckpointStats(
        agent=f"agent{n}", tool="refund", rule="big refunds", level="hard", figures=figures, flags=flags if flagged else []
    )


def _report(count: int) -> StatsReport:
    now = utcnow()
    total = Figures(requests=60 * count, approved=58 * count, rejected=2 * count)
    return StatsReport(
        window=timedelta(days=7),
        since=now - timedelta(days=7),
        until=now,
        checkpoints=[_checkpoint(n, flagged=n % 2 == 0) for n in range(count)],
        total=total,
    )


def test_bars_scale_to_the_whole_and_show_anything_that_happened() -> None:
    assert bar(5, 10, width=10) == "█████░░░░░"
    assert bar(1, 1000, width=10) == "█░░░░░░░░░"
    assert bar(0, 0, width=4) == "░░░░"


def test_stats_reply_is_valid_block_kit_with_escaped_reasons_and_a_proposal_button() -> None:
    blocks = valid_message(stats_message(_report(2), channel="C0ADMIN"))

    joined = "\n".join(texts(blocks))
    assert "“&lt;!channel&gt; wrong *amount*” ×2" in joined
    assert "time to decision p50 *4 min*, p90 *67 min*" in joined
    [button] = [b["accessory"] for b in blocks if "accessory" in b]
    assert button["action_id"] == ActionId.PROPOSE_CHANGE
    assert ProposalRef.load(button["value"]) == ProposalRef(
        scope="payments.refund", level=Level.SOFT, because=PROPOSAL.because, channel="C0ADMIN"
    )


def test_stats_reply_stays_within_fifty_blocks_with_many_checkpoints() -> None:
    blocks = valid_message(stats_message(_report(60)))

    assert any(text.startswith("…and 40 more; name an agent") for text in texts(blocks))


def test_stats_reply_without_requests_says_so() -> None:
    blocks = valid_message(stats_message(_report(0)))

    assert "_No approval requests in this window._" in texts(blocks)


def test_admin_home_with_requests_settings_and_stats_stays_within_a_hundred_blocks() -> None:
    waiting = [approval() for _ in range(20)]
    settings = [ScopedOverride(scope=f"agent{n}", override=Override(level=Level.SOFT), updated_by="U0ADMIN") for n in range(5)]

    view = home_view(waiting, settings, _report(30))

    assert View(**view).to_dict() == view
    assert len(view["blocks"]) <= HOME_MAX_BLOCKS
    header_texts = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    assert header_texts[-1] == "Approvals, last 7d"
    assert view["blocks"][-1]["elements"][0]["text"].endswith("more checkpoints: `/countersign stats` lists them all.")
    shown = [
        b["text"]["text"].split("*")[1] for b in view["blocks"] if b["type"] == "section" and "· rule _" in b["text"]["text"]
    ]
    assert shown[:3] == ["agent0.refund", "agent2.refund", "agent4.refund"]  # flagged checkpoints first


def test_proposal_confirmation_says_what_changes_and_why() -> None:
    ref = ProposalRef(scope="payments.refund", level=Level.SOFT, because=PROPOSAL.because, channel="C0ADMIN")

    view = valid_modal(proposal_modal(ref, Override(timeout=timedelta(minutes=15))))

    assert view["callback_id"] == CallbackId.PROPOSAL_MODAL and view["submit"]["text"] == "Make it soft"
    assert ProposalRef.load(view["private_metadata"]) == ref
    joined = "\n".join(texts(view["blocks"]))
    assert "go ahead at their deadline unless someone rejects them" in joined
    assert "*Why:* 97 % approved unchanged (58 of 60) over 7d." in joined
    assert "Set in Slack for `payments.refund` now: timeout 15m." in joined


def test_settings_form_sets_and_shows_a_level() -> None:
    view = valid_modal(settings_modal("payments.refund", Override(level=Level.SOFT)))
    [level] = [b for b in view["blocks"] if b.get("block_id") == BlockId.SETTING_LEVEL]
    assert level["element"]["initial_option"]["value"] == "soft"

    scope, changes, errors = parse_settings_submission(
        {
            BlockId.SETTING_SCOPE: {ActionId.SETTING_VALUE: {"type": "plain_text_input", "value": "payments.refund"}},
            BlockId.SETTING_LEVEL: {ActionId.SETTING_VALUE: static_select_value("hard")},
        },
        {},
    )
    assert (scope, changes, errors) == ("payments.refund", {"level": "hard"}, {})


def test_a_soft_level_set_in_slack_goes_ahead_at_the_deadline_and_a_hard_one_never_does() -> None:
    from approvals.models import Gate

    hard_rule = Gate(rule="r", level=Level.HARD, on_timeout="reject")
    soft_rule = Gate(rule="r", level=Level.SOFT, on_timeout="approve")

    assert Override(level=Level.SOFT).apply(hard_rule).on_timeout == "approve"
    assert Override(level=Level.HARD).apply(soft_rule).on_timeout == "reject"
    assert Override(level=Level.SOFT, on_timeout="reject").apply(hard_rule).on_timeout == "reject"
