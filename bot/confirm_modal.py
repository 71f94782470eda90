"""The CONFIRM modal: the extra friction a `manual` rule asks for before an approval counts."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ContextBlock, InputBlock, MarkdownTextObject, PlainTextInputElement

from approvals.models import ApprovalRequest
from bot.blocks import modal, request_metadata
from bot.formatting import escape, shorten
from bot.ids import ActionId, BlockId, CallbackId

CONFIRM_WORD = "CONFIRM"


def confirm_modal(approval: ApprovalRequest, position: int | None = None, *, from_home: bool = False) -> dict[str, Any]:
    """Asks the approver to type CONFIRM before approving one action (or every undecided one)."""
    positions = [position] if position is not None else approval.undecided()
    calls = ", ".join(f"`{escape(approval.actions[p].tool)}`" for p in positions)
    quorum = approval.gate.quorum
    needs = f" It needs {quorum} different approvers." if quorum > 1 else ""
    return modal(
        callback_id=CallbackId.CONFIRM_MODAL,
        title="Confirm approval",
        submit="Approve",
        private_metadata=request_metadata(approval, position, from_home=from_home),
        blocks=[
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=shorten(
                            f"Rule _{escape(approval.gate.rule)}_ asks for care: you are approving {calls} "
                            f"for `{escape(approval.run.agent)}`.{needs}",
                            3000,
                        )
                    )
                ]
            ),
            InputBlock(
                block_id=BlockId.CONFIRM,
                label=f"Type {CONFIRM_WORD} to approve",
                element=PlainTextInputElement(action_id=ActionId.CONFIRM, max_length=20),
            ),
        ],
    )


def confirmed(values: dict[str, dict[str, dict[str, Any]]]) -> bool:
    """True when the submitted modal says CONFIRM (exactly, apart from surrounding spaces)."""
    element = values.get(BlockId.CONFIRM, {}).get(ActionId.CONFIRM, {})
    return (element.get("value") or "").strip() == CONFIRM_WORD
