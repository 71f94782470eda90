"""The "Ask someone else…" modal: the person who may decide a request picks someone else to decide it too."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import InputBlock, UserSelectElement

from approvals.models import ApprovalRequest
from bot.blocks import context_block, modal, request_metadata
from bot.formatting import escape, mention, shorten
from bot.ids import ActionId, BlockId, CallbackId


def handover_modal(approval: ApprovalRequest, position: int | None, *, from_home: bool = False) -> dict[str, Any]:
    """The modal asking whom to hand the request to (for the whole request: a hand-over covers every call)."""
    tools = ", ".join(dict.fromkeys(f"`{escape(approval.actions[p].tool)}`" for p in approval.undecided()))
    asked = f" Already asked: {', '.join(mention(person) for person in approval.handed_to)}." if approval.handed_to else ""
    text = (
        f"Who should decide {tools or 'this request'} for `{escape(approval.run.agent)}`? They can decide it as an "
        f"approver its rule names would; you still can too. The rule's other limits hold.{asked}"
    )
    return modal(
        callback_id=CallbackId.HANDOVER_MODAL,
        title="Ask someone else",
        submit="Ask",
        private_metadata=request_metadata(approval, position, from_home=from_home),
        blocks=[
            context_block(shorten(text, 3000)),
            InputBlock(
                block_id=BlockId.HANDOVER_PERSON,
                label="Person",
                element=UserSelectElement(action_id=ActionId.HANDOVER_PERSON, placeholder="Choose a person"),
            ),
        ],
    )


def chosen_person(values: dict[str, dict[str, dict[str, Any]]]) -> str | None:
    """The user picked in a submitted "Ask someone else…" modal (None when nobody was)."""
    picked = values.get(BlockId.HANDOVER_PERSON, {}).get(ActionId.HANDOVER_PERSON, {}).get("selected_user")
    return str(picked) if picked else None
