"""The "⋯" menu beside a call's buttons: the ways to decide that need a form or a choice first (approve with a
note, approve for the rest of the run, ask someone else). Each option's value names what it does and the call."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from slack_sdk.models.blocks import Option, OverflowMenuElement

from approvals.authorization import handover_allowed
from approvals.models import API_KIND, ApprovalRequest, DecisionType, ProposedAction, Remember, format_duration
from bot.ids import ActionId
from bot.metadata import BadReference


class More(StrEnum):
    """What an option of the menu does."""

    NOTE = "note"  # Approve with note…
    REMEMBER = "remember"  # Approve, and for the rest of this run (or for a while)
    HANDOVER = "handover"  # Ask someone else…


def remember_label(remember: Remember) -> str:
    """How the menu words an approval that covers later calls, by the rule's `remember` (not "off")."""
    if isinstance(remember, timedelta):
        return f"Approve, and for {format_duration(remember)}"
    return "Approve, and for the rest of this run"


def more_menu(approval: ApprovalRequest, action: ProposedAction, position: int | None, ref: str) -> OverflowMenuElement | None:
    """The menu for one call (`position`) or the whole request (None); None when it would hold nothing."""
    gate = approval.gate_of(position or 0)
    approvable = DecisionType.APPROVE in action.allowed_decisions and action.result is None
    options: list[Option] = []
    if approvable:
        options.append(Option(text="Approve with note…", value=option_value(More.NOTE, ref)))
    if approvable and gate.remembers and approval.kind != API_KIND:
        options.append(Option(text=remember_label(gate.remember), value=option_value(More.REMEMBER, ref)))
    if handover_allowed(approval):
        # A hand-over covers the whole request: offered when the rule of every call still waiting allows it.
        options.append(Option(text="Ask someone else…", value=option_value(More.HANDOVER, ref)))
    return OverflowMenuElement(action_id=ActionId.MORE, options=options) if options else None


def option_value(intent: More, ref: str) -> str:
    """An option's value: what it does, then the reference its call's buttons carry."""
    return f"{intent.value} {ref}"


def chosen(value: str | None) -> tuple[More, str]:
    """What a chosen option does and the reference it carries; `BadReference` for anything else."""
    intent, _, ref = str(value or "").partition(" ")
    try:
        return More(intent), ref
    except ValueError:
        raise BadReference("this menu option does not name a request") from None
