"""The Answer modal: a question an agent asked with `interrupt(...)` (declared `resume="text"`), answered with
typed text or with one of the options its value lists. The agent reads exactly the answer, as a plain string.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk.models.blocks import (
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)

from approvals.models import ApprovalRequest, ProposedAction
from bot.blocks import context_block, modal, request_metadata
from bot.formatting import as_text, escape, quote, shorten
from bot.ids import ActionId, BlockId, CallbackId

# Where a question's value lists its options, and where it words the question.
OPTION_KEYS = ("options", "choices")
QUESTION_KEYS = ("question", "message", "prompt", "description")
# Slack's limits: options in one select, characters in an option's text.
MAX_OPTIONS = 100
_OPTION_TEXT_CHARS = 75
_QUESTION_CHARS = 2500


def listed_options(action: ProposedAction) -> list[str]:
    """The options the question lists (`options` or `choices`: strings or numbers), as the agent gets them."""
    for key in OPTION_KEYS:
        options = action.args.get(key)
        if (
            isinstance(options, list)
            and options
            and all(isinstance(o, (str, int, float)) and not isinstance(o, bool) for o in options)
        ):
            return [str(o) for o in options]
    return []


def question_of(action: ProposedAction) -> str:
    """The question as the agent worded it (or, when its value words none, the value itself)."""
    for key in QUESTION_KEYS:
        if isinstance(action.args.get(key), str):
            return str(action.args[key])
    return action.description or as_text(action.args)


def answer_modal(approval: ApprovalRequest, position: int | None = None, *, from_home: bool = False) -> dict[str, Any]:
    """The question, and a select of its options when it lists at most `MAX_OPTIONS`, else a text field."""
    action = approval.actions[position or 0]
    options = listed_options(action)
    agent = f"`{escape(approval.run.agent)}`"
    if options and len(options) <= MAX_OPTIONS:
        answer = InputBlock(
            block_id=BlockId.ANSWER_OPTION,
            label="Your answer",
            element=StaticSelectElement(
                action_id=ActionId.ANSWER_OPTION,
                placeholder="Choose one",
                # The option's position is its value: an option's text can be longer than a value may be.
                options=[Option(value=str(i), text=shorten(o, _OPTION_TEXT_CHARS)) for i, o in enumerate(options)],
            ),
        )
        reads = f"{agent} reads the option you choose, as it is written."
    else:
        answer = InputBlock(
            block_id=BlockId.ANSWER_TEXT,
            label="Your answer",
            element=PlainTextInputElement(action_id=ActionId.ANSWER_TEXT, multiline=True, min_length=1, max_length=2000),
        )
        reads = f"{agent} reads exactly what you type, as text."
    return modal(
        callback_id=CallbackId.ANSWER_MODAL,
        title="Answer",
        submit="Send answer",
        private_metadata=request_metadata(approval, position, from_home=from_home),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=f"*{agent} asks:*\n{quote(question_of(action), _QUESTION_CHARS)}")),
            answer,
            context_block(reads),
        ],
    )


def submitted_answer(action: ProposedAction, values: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """The answer in a submitted Answer modal: the chosen option as the question lists it, or the typed text
    without surrounding spaces ('' when there is none, or the choice is not one of the options)."""
    picked = values.get(BlockId.ANSWER_OPTION, {}).get(ActionId.ANSWER_OPTION, {}).get("selected_option")
    if picked is not None:
        options = listed_options(action)
        value = str(picked.get("value", ""))
        return options[int(value)] if value.isascii() and value.isdigit() and int(value) < len(options) else ""
    return str(values.get(BlockId.ANSWER_TEXT, {}).get(ActionId.ANSWER_TEXT, {}).get("value") or "").strip()
