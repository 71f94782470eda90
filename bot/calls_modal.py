"""The "View all calls" modal: every call of a request too big for one message, a page at a time, each
with its own buttons (Approve, Edit, Reply, Reject, as the call allows)."""

from __future__ import annotations

import math
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from approvals.models import ApprovalRequest
from bot.blocks import modal
from bot.formatting import shorten
from bot.ids import ActionId, BlockId, CallbackId
from bot.metadata import ApprovalRef
from bot.request_message import call_row, decision_buttons

# Two blocks a call; a modal holds 100 blocks.
CALLS_PER_PAGE = 20


def page_count(approval: ApprovalRequest) -> int:
    """How many pages the request's calls take."""
    return max(1, math.ceil(len(approval.actions) / CALLS_PER_PAGE))


def calls_modal(approval: ApprovalRequest, page: int = 0, *, from_home: bool = False) -> dict[str, Any]:
    """One page of the request's calls; a page past the end shows the last."""
    pages = page_count(approval)
    page = min(max(page, 0), pages - 1)
    first = page * CALLS_PER_PAGE
    blocks: list[Block] = [
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"Calls {first + 1}–{min(first + CALLS_PER_PAGE, len(approval.actions))} of "
                    f"{len(approval.actions)} (page {page + 1} of {pages})."
                )
            ]
        )
    ]
    for position in range(first, min(first + CALLS_PER_PAGE, len(approval.actions))):
        action = approval.actions[position]
        blocks.append(SectionBlock(text=MarkdownTextObject(text=shorten(call_row(position, action), 3000))))
        if action.decision is None and approval.is_pending:
            blocks.append(decision_buttons(approval, action, position, f"{BlockId.DECISION_BUTTONS}:{position}"))
    navigation = []
    if page > 0:
        navigation.append(_page_button("Previous", approval, page - 1))
    if page < pages - 1:
        navigation.append(_page_button("Next", approval, page + 1))
    if navigation:
        blocks.append(ActionsBlock(block_id=BlockId.CALLS_PAGES, elements=navigation))
    return modal(
        callback_id=CallbackId.CALLS_MODAL,
        title=shorten(f"{len(approval.actions)} calls", 24),
        close="Close",
        private_metadata=ApprovalRef(approval_id=approval.id, page=page, home=from_home, rev=approval.revision).dump(),
        blocks=blocks,
    )


def _page_button(label: str, approval: ApprovalRequest, page: int) -> ButtonElement:
    return ButtonElement(text=label, action_id=ActionId.CALLS_PAGE, value=ApprovalRef(approval_id=approval.id, page=page).dump())
