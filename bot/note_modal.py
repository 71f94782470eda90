"""The "Approve with note…" modal: an approval that carries a note, recorded with the decision and in the audit
log, shown on the request, and handed to the agent where its resume protocol has a place for it."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block, InputBlock, PlainTextInputElement

from approvals.models import ApprovalRequest, Level
from bot.blocks import context_block, modal, request_metadata
from bot.confirm_modal import CONFIRM_WORD
from bot.formatting import escape, shorten
from bot.ids import ActionId, BlockId, CallbackId

NOTE_CHARS = 2000


def needs_confirm(approval: ApprovalRequest, position: int | None) -> bool:
    """Whether approving the targeted call (every undecided one when None) takes typing CONFIRM (a `manual` rule)."""
    positions = [position] if position is not None else approval.undecided()
    return any(approval.gate_of(p).level is Level.MANUAL for p in positions)


def note_modal(approval: ApprovalRequest, position: int | None = None, *, from_home: bool = False) -> dict[str, Any]:
    """Asks for the (required) note to approve one call (or every undecided one) with; CONFIRM too under a manual rule."""
    positions = [position] if position is not None else approval.undecided()
    calls = ", ".join(f"`{escape(approval.actions[p].tool)}`" for p in positions)
    context = (
        f"You are approving {calls} for `{escape(approval.run.agent)}`. Your note is kept with your decision and in "
        "the audit log, shown on the request, and read by the agent where it reads one."
    )
    blocks: list[Block] = [
        context_block(shorten(context, 3000)),
        InputBlock(
            block_id=BlockId.NOTE,
            label="Note",
            element=PlainTextInputElement(action_id=ActionId.NOTE, multiline=True, min_length=1, max_length=NOTE_CHARS),
        ),
    ]
    if needs_confirm(approval, position):
        blocks.append(
            InputBlock(
                block_id=BlockId.CONFIRM,
                label=f"Type {CONFIRM_WORD} to approve (rule _{escape(approval.gate_of(positions[0]).rule)}_ is manual)",
                element=PlainTextInputElement(action_id=ActionId.CONFIRM, max_length=20),
            )
        )
    return modal(
        callback_id=CallbackId.NOTE_MODAL,
        title="Approve with note",
        submit="Approve",
        private_metadata=request_metadata(approval, position, from_home=from_home),
        blocks=blocks,
    )


def submitted_note(values: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The note typed in a submitted modal, stripped ('' when blank)."""
    element = values.get(BlockId.NOTE, {}).get(ActionId.NOTE, {})
    return (element.get("value") or "").strip()
