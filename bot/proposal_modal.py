"""The confirmation an admin sees before a stats flag's proposal changes anything: what the change is, what
it means for new requests, and why it was proposed. Nothing changes until they submit it."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from approvals.admin_settings import Override
from approvals.models import Level
from bot.admin_commands import describe, scope_text
from bot.blocks import modal
from bot.formatting import escape
from bot.ids import CallbackId
from bot.metadata import ProposalRef

_MEANING = {
    Level.AUTO: "Its calls go ahead without anyone being asked; each is audited as approved by `countersign:policy`.",
    Level.SOFT: "Its calls are still posted, and go ahead at their deadline unless someone rejects them.",
    Level.HARD: "Its calls wait for a person's decision; at the deadline they are rejected.",
    Level.MANUAL: "Approvers type CONFIRM to approve its calls.",
}


_ONLY = {
    True: "Only the calls this rule governs change: the tool's calls under its other rules keep theirs, and a manual "
    "rule's CONFIRM and quorum are never lowered.",
    False: "Every call of this scope changes, except under a manual rule, whose CONFIRM and quorum are never lowered.",
}


def proposal_modal(ref: ProposalRef, current: Override) -> dict[str, Any]:
    """Confirm making `ref.scope` a `ref.level` checkpoint; `current` is what admins set for it so far."""
    rule = ref.scope.partition("#")[2]
    return modal(
        callback_id=CallbackId.PROPOSAL_MODAL,
        title="Change a checkpoint",
        submit=f"Make it {ref.level.value}",
        private_metadata=ref.dump(),
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"Make {scope_text(ref.scope)} a *{ref.level.value}* checkpoint for new requests?\n"
                    f"{_MEANING[ref.level]}\n{_ONLY[bool(rule)]}"
                )
            ),
            SectionBlock(text=MarkdownTextObject(text=f"*Why:* {escape(ref.because)}.")),
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"Set in Slack for {scope_text(ref.scope)} now: {describe(current)}. The change overrides the "
                        "policy file, is recorded in the audit log with your name, and can be undone from the Home "
                        "tab's settings."
                    )
                ]
            ),
        ],
    )
