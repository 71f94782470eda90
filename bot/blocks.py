"""Block Kit pieces every modal repeats: the view itself, a line of context, the request it is about."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject
from slack_sdk.models.views import View

from approvals.models import ApprovalRequest
from bot.metadata import ApprovalRef


def modal(
    callback_id: str,
    title: str,
    blocks: Sequence[Block],
    *,
    submit: str | None = None,
    close: str = "Cancel",
    private_metadata: str | None = None,
) -> dict[str, Any]:
    """A modal view as `views.open` takes it; without `submit` it has only the `close` button."""
    view = View(
        type="modal",
        callback_id=callback_id,
        title=title,
        submit=submit,
        close=close,
        private_metadata=private_metadata,
        blocks=blocks,
    )
    return view.to_dict()


def context_block(text: str) -> ContextBlock:
    """A context block of one mrkdwn text."""
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def request_metadata(approval: ApprovalRequest, position: int | None, *, from_home: bool) -> str:
    """A modal's `private_metadata` naming the request (and action) it decides, at the revision it shows."""
    return ApprovalRef(approval_id=approval.id, action=position, home=from_home, rev=approval.revision).dump()
