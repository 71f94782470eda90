"""`countersign stats [agent[.tool]] [--window 7d] [--json]`: the approval figures in a shell, as a table
(both default windows unless one is named) or as JSON."""

from __future__ import annotations

import argparse
import json
import sys

from approvals.admin_settings import SCOPE
from approvals.models import format_duration, parse_duration
from approvals.settings import load_settings
from approvals.stats import (
    DEFAULT_WINDOWS,
    Figures,
    StatsReport,
    approval_stats,
    duration_in,
    percent,
)

_COLUMNS = [
    ("checkpoint", "<"),
    ("level", "<"),
    ("requests", ">"),
    ("approved", ">"),
    ("edited", ">"),
    ("rejected", ">"),
    ("replied", ">"),
    ("expired", ">"),
    ("escalated", ">"),
    ("auto", ">"),
    ("soft", ">"),
    ("pending", ">"),
    ("approval", ">"),
    ("modified", ">"),
    ("p50", ">"),
    ("p90", ">"),
]


def seconds_text(seconds: float | None) -> str:
    """A duration for a table cell: `42s`, `7m`, `3.5h`, `2.1d`; `–` for none."""
    return duration_in(seconds, ("s", "m", "h", "d"))


def _cells(name: str, level: str, figures: Figures) -> list[str]:
    return [
        name,
        level,
        *(
            str(getattr(figures, key))
            for key in (
                "requests",
                "approved",
                "edited",
                "rejected",
                "replied",
                "expired",
                "escalated",
                "auto",
                "soft",
                "pending",
            )
        ),
        percent(figures.approval_rate),
        percent(figures.modification_rate),
        seconds_text(figures.p50_seconds),
        seconds_text(figures.p90_seconds),
    ]


def table(report: StatsReport) -> str:
    """The report as a plain-text table, its flags and top rejection reasons below it."""
    scope = f" of {report.scope}" if report.scope else ""
    lines = [f"Approvals{scope}, last {report.window_label} (since {report.since:%Y-%m-%d %H:%M} UTC)"]
    if not report.checkpoints:
        return lines[0] + "\n  no approval requests in this window"
    rows = [[title for title, _ in _COLUMNS]]
    for checkpoint in report.checkpoints:
        rows.append(_cells(f"{checkpoint.scope} ({checkpoint.rule})", checkpoint.level, checkpoint.figures))
    rows.append(_cells("all", "", report.total))
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    for number, row in enumerate(rows):
        lines.append(
            "  ".join(f"{cell:{align}{width}}" for cell, (_, align), width in zip(row, _COLUMNS, widths, strict=True)).rstrip()
        )
        if number == 0 or number == len(rows) - 2:
            lines.append("  ".join("-" * width for width in widths))
    notes = []
    for checkpoint in report.checkpoints:
        for flag in checkpoint.flags:
            notes.append(f"  ! {checkpoint.scope} ({checkpoint.rule}): {flag.text}")
        if checkpoint.figures.top_reasons:
            reasons = "; ".join(f'"{r.text[:60]}" ×{r.count}' for r in checkpoint.figures.top_reasons)
            notes.append(f"  rejected {checkpoint.scope}: {reasons}")
    return "\n".join([*lines, "", *notes] if notes else lines)


def stats(args: argparse.Namespace) -> None:
    """Print the figures of every checkpoint (or one agent's, or one tool's) as a table or JSON."""
    if args.scope and not SCOPE.match(args.scope):
        sys.exit(f"countersign stats: {args.scope!r} is not an agent or agent.tool")
    from approvals.wiring import checked_engine  # brings in the queue's modules: only when used

    engine = checked_engine(load_settings())
    windows = [args.window] if args.window else DEFAULT_WINDOWS
    reports = [approval_stats(engine, window, args.scope) for window in windows]
    if args.json:
        print(json.dumps([report.model_dump(mode="json") for report in reports], indent=2))
        return
    print("\n\n".join(table(report) for report in reports))


def _window(text: str) -> object:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `countersign stats`."""
    command = commands.add_parser("stats", help="approval figures and flags per checkpoint (agent, tool, rule)")
    command.add_argument("scope", nargs="?", help="an agent (payments) or agent.tool (payments.refund)")
    command.add_argument(
        "--window", type=_window, help=f"how far back (default: {' and '.join(format_duration(w) for w in DEFAULT_WINDOWS)})"
    )
    command.add_argument("--json", action="store_true", help="print JSON instead of a table")
    command.set_defaults(func=stats)
