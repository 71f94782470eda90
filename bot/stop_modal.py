"""Stopping a run from Slack: the confirmation modal (with an optional reason) its Stop button and
`/countersign stop <run>` open, and the reference to the run it carries back."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_sdk.models.blocks import InputBlock, PlainTextInputElement

from approvals.models import Run
from bot.blocks import context_block, modal
from bot.formatting import escape, mention, shorten
from bot.ids import ActionId, BlockId, CallbackId
from bot.metadata import BadReference


class RunRef(BaseModel):
    """The run a stop modal stops: its `private_metadata` (who may stop it is checked again on submission)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    thread_id: str = Field(min_length=1, max_length=64)

    def dump(self) -> str:
        """The compact JSON Slack keeps for us."""
        return self.model_dump_json()

    @classmethod
    def load(cls, raw: Any) -> RunRef:
        """Parse what `dump` wrote; `BadReference` for anything else."""
        try:
            return cls.model_validate_json(str(raw or "")[:500])
        except ValidationError:
            raise BadReference("this form does not name a run") from None


def stop_modal(run: Run, pending: int) -> dict[str, Any]:
    """Asks the person to confirm stopping `run` (with `pending` requests waiting), with an optional reason."""
    waiting = {0: "", 1: "its pending request is withdrawn, "}.get(pending, f"its {pending} pending requests are withdrawn, ")
    context = (
        f"Stop the `{escape(run.agent)}` run `{run.thread_id}` asked by {mention(run.requested_by)}? "
        f"It ends where it stands: {waiting}nothing after its pause runs, and the agent is not resumed. "
        "This cannot be undone; the thread says who stopped it and why."
    )
    return modal(
        callback_id=CallbackId.STOP_MODAL,
        title="Stop this run?",
        submit="Stop run",
        private_metadata=RunRef(thread_id=run.thread_id).dump(),
        blocks=[
            context_block(shorten(context, 3000)),
            InputBlock(
                block_id=BlockId.STOP_REASON,
                label="Why (optional)",
                optional=True,
                element=PlainTextInputElement(action_id=ActionId.STOP_REASON, multiline=True, max_length=1000),
            ),
        ],
    )


def stop_reason(values: dict[str, dict[str, dict[str, Any]]]) -> str | None:
    """The reason typed in a submitted stop modal, stripped (None when blank)."""
    element = values.get(BlockId.STOP_REASON, {}).get(ActionId.STOP_REASON, {})
    return (element.get("value") or "").strip() or None
