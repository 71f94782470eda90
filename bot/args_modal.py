"""The "View full arguments" modal: every argument whole, for values the message had to shorten."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

from approvals.models import ApprovalRequest
from bot.blocks import modal
from bot.formatting import ELLIPSIS, escape, shorten
from bot.ids import CallbackId

_SECTION_CHARS = 3000  # a section's text holds 3000 characters, heading and code fences included
_FENCES = len("``````")
_TITLE_CHARS = 200  # escaped, at most 5 times as long; leaves most of the first section for the value
_MAX_BLOCKS = 100


def _chunks(text: str, first: int, rest: int) -> list[str]:
    """Escaped `text` in pieces of at most `first`, then `rest`, characters, never splitting an entity."""
    chunks: list[str] = []
    while text:
        cut = min(len(text), first if not chunks else rest)
        entity = text.rfind("&", max(cut - 4, 0), cut)  # the longest entity, "&amp;", is 5 characters
        if cut < len(text) and entity != -1 and ";" not in text[entity:cut]:
            cut = entity
        chunks.append(text[:cut])
        text = text[cut:]
    return chunks or [""]


def _sections(title: str, value: Any) -> list[Block]:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    text = escape(text).replace("```", "'''")
    heading = f"*{escape(shorten(title, _TITLE_CHARS))}*\n"
    chunks = _chunks(text, _SECTION_CHARS - _FENCES - len(heading), _SECTION_CHARS - _FENCES)
    return [
        SectionBlock(text=MarkdownTextObject(text=(heading if n == 0 else "") + f"```{chunk or ' '}```"))
        for n, chunk in enumerate(chunks)
    ]


def args_modal(approval: ApprovalRequest) -> dict[str, Any]:
    """A read-only modal with each argument of each action in full (as much as a modal holds)."""
    blocks: list[Block] = []
    for action in approval.actions:
        for name, value in action.args.items():
            blocks.extend(_sections(f"{action.tool} · {name}", value))
        if action.decision and action.decision.edited_args:
            for name, value in action.decision.edited_args.items():
                blocks.extend(_sections(f"{action.tool} · {name} (approved)", value))
    if len(blocks) > _MAX_BLOCKS:
        blocks = blocks[: _MAX_BLOCKS - 1]
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"{ELLIPSIS} the rest does not fit in one modal.")))
    return modal(
        callback_id=CallbackId.ARGS_MODAL,
        title=shorten(f"{approval.action.tool} arguments", 24),
        close="Close",
        blocks=blocks or [SectionBlock(text=MarkdownTextObject(text="_No arguments._"))],
    )
