"""The admins' settings form (from App Home): channel picker, timeout and what happens at it, the level,
with inline validation."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ConversationSelectElement,
    InputBlock,
    InputInteractiveElement,
    Option,
    PlainTextInputElement,
    StaticSelectElement,
)

from approvals.admin_settings import SCOPE, Override
from approvals.models import format_duration, parse_duration
from bot.blocks import context_block, modal
from bot.ids import ActionId, BlockId, CallbackId

_OUTCOMES = {
    "reject": "Reject (the agent is told it expired)",
    "approve": "Go ahead (auto and soft rules only)",
    "escalate": "Escalate",
}
_LEVELS = {
    "auto": "auto: nobody is asked",
    "soft": "soft: goes ahead at the deadline unless rejected",
    "hard": "hard: waits for a decision",
    "manual": "manual: approvers type CONFIRM",
}


def _optional(block_id: str, label: str, element: InputInteractiveElement) -> InputBlock:
    """One optional field of the form: left empty, the scope keeps what the policy file says."""
    return InputBlock(block_id=block_id, label=label, optional=True, element=element)


def _choice(labels: dict[str, str], chosen: str | None) -> StaticSelectElement:
    """A select of `labels` (value: label), prefilled with the option whose value is `chosen`."""
    options = [Option(value=key, text=label) for key, label in labels.items()]
    return StaticSelectElement(
        action_id=ActionId.SETTING_VALUE,
        options=options,
        initial_option=next((o for o in options if o.value == chosen), None),
    )


def settings_modal(scope: str | None, current: Override) -> dict[str, Any]:
    """The form to change one scope's settings (`scope` None: a new one), prefilled with what is set."""
    timeout = format_duration(current.timeout) if current.timeout else None
    return modal(
        callback_id=CallbackId.SETTINGS_MODAL,
        title="Countersign settings",
        submit="Save",
        blocks=[
            context_block("Applies to new requests at once, on top of the policy file."),
            InputBlock(
                block_id=BlockId.SETTING_SCOPE,
                label="Agent, or agent.tool",
                element=PlainTextInputElement(action_id=ActionId.SETTING_VALUE, initial_value=scope, max_length=200),
            ),
            _optional(
                BlockId.SETTING_CHANNEL,
                "Post requests in",
                ConversationSelectElement(action_id=ActionId.SETTING_VALUE, initial_conversation=current.channel),
            ),
            _optional(
                BlockId.SETTING_TIMEOUT,
                "Timeout (e.g. 15m, 4h, 2d)",
                PlainTextInputElement(action_id=ActionId.SETTING_VALUE, initial_value=timeout, max_length=20),
            ),
            _optional(BlockId.SETTING_ON_TIMEOUT, "At the timeout", _choice(_OUTCOMES, current.on_timeout)),
            _optional(
                BlockId.SETTING_LEVEL,
                "Level (instead of the rule's)",
                _choice(_LEVELS, current.level.value if current.level else None),
            ),
        ],
    )


def parse_settings_submission(
    values: dict[str, dict[str, dict[str, Any]]], current: dict[str, Override]
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """(scope, changes, inline errors by block id) from a submitted settings form; `current` maps
    scopes to what is set now (to check that escalating has stages)."""

    def value(block: str) -> Any:
        element = values.get(block, {}).get(ActionId.SETTING_VALUE, {})
        if element.get("type") == "static_select":
            return (element.get("selected_option") or {}).get("value")
        if element.get("type") == "conversations_select":
            return element.get("selected_conversation")
        return (element.get("value") or "").strip() or None

    errors: dict[str, str] = {}
    scope = value(BlockId.SETTING_SCOPE) or ""
    if not SCOPE.match(scope):
        errors[BlockId.SETTING_SCOPE] = "Name an agent (payments) or an agent's tool (payments.refund)."
    changes: dict[str, Any] = {}
    if channel := value(BlockId.SETTING_CHANNEL):
        changes["channel"] = channel
    if timeout := value(BlockId.SETTING_TIMEOUT):
        try:
            changes["timeout"] = parse_duration(timeout)
        except ValueError as error:
            errors[BlockId.SETTING_TIMEOUT] = str(error)
    if outcome := value(BlockId.SETTING_ON_TIMEOUT):
        if outcome == "escalate" and not (current.get(scope) or Override()).escalation:
            errors[BlockId.SETTING_ON_TIMEOUT] = "Set escalation stages first: /countersign escalation."
        changes["on_timeout"] = outcome
    if level := value(BlockId.SETTING_LEVEL):
        changes["level"] = level
    if not changes and not errors:
        errors[BlockId.SETTING_TIMEOUT] = "Change something: a channel, a timeout, what happens at it, or the level."
    return scope, changes, errors
