"""The approval figures in Block Kit: the reply to `/countersign stats` and the admins' section of the App
Home tab. Bar charts are text (block characters in a code block), so no image host is needed."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from approvals.stats import CheckpointStats, Figures, StatsReport, duration_in, percent
from bot.formatting import escape, shorten, slack_date
from bot.ids import ActionId
from bot.metadata import ProposalRef

BAR_WIDTH = 20
# A message holds 50 blocks; each checkpoint takes two (its figures, its flags), plus the frame.
MESSAGE_CHECKPOINTS = 20
_OUTCOMES = [
    ("approved", "approved"),
    ("edited", "edited"),
    ("rejected", "rejected"),
    ("replied", "replied"),
    ("expired", "expired"),
    ("soft", "at deadline"),
    ("auto", "by policy"),
]


def bar(part: int, whole: int, width: int = BAR_WIDTH) -> str:
    """A horizontal bar: `part` of `whole` in full blocks, the rest in light shade."""
    filled = round(width * part / whole) if whole else 0
    if part and not filled:
        filled = 1  # something happened: show it
    return "█" * filled + "░" * (width - filled)


def duration_text(seconds: float | None) -> str:
    """A time to decision as people say it: `42 s`, `7 min`, `3.5 h`, `2.1 days`."""
    return duration_in(seconds, (" s", " min", " h", " days"))


def chart(figures: Figures) -> str:
    """The outcomes of decided calls as a bar chart (a code block: monospace, so the bars line up)."""
    lines = []
    for key, label in _OUTCOMES:
        count = getattr(figures, key)
        share = f"{round(100 * count / figures.decided)} %" if figures.decided else "–"
        lines.append(f"{label:<11} {bar(count, figures.decided)} {share:>5} {count:>5}")
    return "```\n" + "\n".join(lines) + "\n```"


def _summary(figures: Figures) -> str:
    parts = [
        f"approval rate *{percent(figures.approval_rate)}*",
        f"modified *{percent(figures.modification_rate)}*",
        f"time to decision p50 *{duration_text(figures.p50_seconds)}*, p90 *{duration_text(figures.p90_seconds)}*",
    ]
    if figures.escalated:
        parts.append(f"escalated {figures.escalated}")
    if figures.pending:
        parts.append(f"{figures.pending} still pending")
    line = " · ".join(parts)
    if figures.top_reasons:
        reasons = ", ".join(f"“{escape(shorten(r.text, 60))}” ×{r.count}" for r in figures.top_reasons)
        line += f"\nTop rejection reasons: {reasons}"
    return line


def checkpoint_blocks(checkpoint: CheckpointStats, *, channel: str | None = None, home: bool = False) -> list[Block]:
    """One checkpoint: its figures and chart, with a button for the change its flags propose; then its flags."""
    figures = checkpoint.figures
    title = (
        f"*{escape(checkpoint.scope)}* · rule _{escape(checkpoint.rule)}_ ({escape(checkpoint.level)}) · "
        f"{figures.requests} request{'s' if figures.requests != 1 else ''}"
    )
    text = shorten(f"{title}\n{chart(figures)}\n{_summary(figures)}", 3000)
    proposal = next((flag.proposal for flag in checkpoint.flags if flag.proposal is not None), None)
    accessory = None
    if proposal is not None:
        ref = ProposalRef(scope=proposal.scope, level=proposal.level, because=proposal.because, home=home, channel=channel)
        accessory = ButtonElement(text=f"Make it {proposal.level.value}…", action_id=ActionId.PROPOSE_CHANGE, value=ref.dump())
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=text), accessory=accessory)]
    if checkpoint.flags:
        flags = "\n".join(f":warning: {escape(flag.text)}" for flag in checkpoint.flags)
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=shorten(flags, 3000))]))
    return blocks


def _frame(report: StatsReport) -> tuple[str, str]:
    scope = f" of `{escape(report.scope)}`" if report.scope else ""
    title = f"Approvals, last {report.window_label}"
    note = (
        f"Requests created since {slack_date(report.since)}{scope}, per agent.tool and the rule that governed it. "
        "Flags follow the human-in-the-loop practice: over 95 % approved unchanged, over 30 % modified, "
        "10 % or more expired."
    )
    return title, note


def stats_message(report: StatsReport, channel: str | None = None) -> dict[str, Any]:
    """The reply to `/countersign stats`: every checkpoint's figures, flags and proposals, then the total."""
    title, note = _frame(report)
    blocks: list[Block] = [HeaderBlock(text=title), ContextBlock(elements=[MarkdownTextObject(text=note)])]
    if not report.checkpoints:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="_No approval requests in this window._")))
    for checkpoint in report.checkpoints[:MESSAGE_CHECKPOINTS]:
        blocks.extend(checkpoint_blocks(checkpoint, channel=channel))
    if len(report.checkpoints) > MESSAGE_CHECKPOINTS:
        more = (
            f"…and {len(report.checkpoints) - MESSAGE_CHECKPOINTS} more; "
            "name an agent to see its own: `/countersign stats <agent>`."
        )
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=more)]))
    if len(report.checkpoints) > 1:
        blocks.append(DividerBlock())
        total = shorten(
            f"*All checkpoints* · {report.total.requests} requests\n{chart(report.total)}\n{_summary(report.total)}", 3000
        )
        blocks.append(SectionBlock(text=MarkdownTextObject(text=total)))
    flagged = sum(len(c.flags) > 0 for c in report.checkpoints)
    text = f"{title}: {report.total.requests} requests, {flagged} checkpoint{'s' if flagged != 1 else ''} flagged."
    return {"text": text, "blocks": [block.to_dict() for block in blocks]}


def stats_home_blocks(report: StatsReport, budget: int) -> list[Block]:
    """The admins' section of the Home tab, in at most `budget` blocks (flagged checkpoints first)."""
    if budget < 4:
        return []
    title, note = _frame(report)
    blocks: list[Block] = [DividerBlock(), HeaderBlock(text=title), ContextBlock(elements=[MarkdownTextObject(text=note)])]
    if not report.checkpoints:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="_No approval requests in this window._")))
        return blocks
    ordered = sorted(report.checkpoints, key=lambda c: not c.flags)
    room = budget - len(blocks) - 1  # keep one for "…and more"
    shown = 0
    for checkpoint in ordered:
        more = checkpoint_blocks(checkpoint, home=True)
        if len(more) > room:
            break
        blocks.extend(more)
        room -= len(more)
        shown += 1
    if shown < len(ordered):
        rest = f"…and {len(ordered) - shown} more checkpoints: `/countersign stats` lists them all."
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=rest)]))
    return blocks
