"""Slack's checks on what an app sends: Block Kit parsed with slack_sdk's models, and Slack's limits.

Every block goes through `slack_sdk.models` and `to_dict()`, which enforces the per-field limits
(section text 3000 characters, button value 2000, modal title 24, ...); the limits Slack applies
to a whole surface (50 blocks a message, 100 a modal or Home tab, 40,000 characters of message
text) are checked here. Each problem is worded as Slack words it: a message with a JSON pointer,
so the emulator can refuse the call with Slack's error code (`invalid_blocks`, `invalid_arguments`).
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

__all__ = ["MAX_MESSAGE_BLOCKS", "MAX_TEXT_CHARS", "MAX_VIEW_BLOCKS", "block_problems", "view_problems"]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT_CHARS = 40_000


def _problem(message: str, pointer: str) -> str:
    return f"{message} [json-pointer:{pointer}]"


def _block_problem(block: Any, pointer: str) -> str | None:
    if not isinstance(block, dict):
        return _problem("must be an object", pointer)
    try:
        parsed = Block.parse(block)
        if parsed is None:  # slack_sdk skips a type it does not know; Slack refuses it
            return _problem(f"unsupported type {block.get('type')!r}", f"{pointer}/type")
        parsed.to_dict()
    except SlackObjectFormationError as error:
        return _problem(str(error), pointer)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        # A block slack_sdk cannot even build (a missing or misshapen field) is malformed for Slack too.
        return _problem(f"malformed block: {error}", pointer)
    return None


def block_problems(blocks: Any, limit: int, pointer: str = "/blocks") -> list[str]:
    """What Slack would refuse in a `blocks` array holding at most `limit` blocks (empty: nothing)."""
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        return [_problem("must be an array", pointer)]
    problems = []
    if len(blocks) > limit:
        problems.append(_problem(f"no more than {limit} items allowed", pointer))
    for index, block in enumerate(blocks):
        problem = _block_problem(block, f"{pointer}/{index}")
        if problem:
            problems.append(problem)
    return problems


def view_problems(view: Any, kinds: tuple[str, ...] = ("modal",)) -> list[str]:
    """What Slack would refuse in a modal or Home tab `view` (empty: nothing)."""
    if not isinstance(view, dict):
        return [_problem("must be an object", "/view")]
    kind = view.get("type")
    if kind not in kinds:
        return [_problem(f"type must be {' or '.join(kinds)}", "/view/type")]
    problems = block_problems(view.get("blocks"), MAX_VIEW_BLOCKS, "/view/blocks")
    if kind == "modal" and not view.get("title"):
        problems.append(_problem("title is required for a modal", "/view/title"))
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
    if kind == "modal" and has_input and not view.get("submit"):
        problems.append(_problem("submit is required when a modal holds input blocks", "/view/submit"))
    # The blocks were checked above; one stand-in block lets View check only its own fields (title,
    # submit, close, private_metadata, callback_id), whether or not the view has blocks.
    fields = {**view, "blocks": [{"type": "divider"}]}
    try:
        View(**fields).to_dict()
    except SlackObjectFormationError as error:
        problems.append(_problem(str(error), "/view"))
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        problems.append(_problem(f"malformed view: {error}", "/view"))
    return problems
