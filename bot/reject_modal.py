"""The Reject modal: the approver says why; the agent reads the reason."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ContextBlock, InputBlock, MarkdownTextObject, PlainTextInputElement
from slack_sdk.models.views import View

from approvals.models import ApprovalRequest
from bot.formatting import escape, shorten
from bot.ids import ActionId, BlockId, CallbackId
from bot.metadata import ApprovalRef


def reject_modal(approval: ApprovalRequest, position: int | None = None) -> dict[str, Any]:
    """The modal asking for a (required) reason before rejecting one action (or every undecided one)."""
    positions = [position] if position is not None else approval.undecided()
    tools = [approval.actions[p].tool for p in positions]
    tool = tools[0] if len(tools) == 1 else f"{len(tools)} calls"
    view = View(
        type="modal",
        callback_id=CallbackId.REJECT_MODAL,
        title=shorten(f"Reject {tool}", 24),
        submit="Reject",
        close="Cancel",
        private_metadata=ApprovalRef(approval_id=approval.id, action=position).dump(),
        blocks=[
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"`{escape(approval.run.agent)}` will not call "
                        + ", ".join(f"`{escape(t)}`" for t in tools)
                        + "; "
                        "it reads your reason and answers accordingly."
                    )
                ]
            ),
            InputBlock(
                block_id=BlockId.REJECT_REASON,
                label="Reason",
                element=PlainTextInputElement(
                    action_id=ActionId.REJECT_REASON, multiline=True, min_length=1, max_length=2000
                ),
            ),
        ],
    )
    return view.to_dict()


def reject_reason(values: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The reason typed in a submitted Reject modal, stripped ('' when blank)."""
    element = values.get(BlockId.REJECT_REASON, {}).get(ActionId.REJECT_REASON, {})
    return (element.get("value") or "").strip()
