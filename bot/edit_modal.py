"""The Edit modal: one input per argument, typed from the tool's JSON schema, and its validation.

Numbers become number inputs, booleans and enums selects, strings text inputs, and anything
nested a JSON text area. A submission is parsed back field by field and checked against the
schema; every problem is reported inline on its own field.
"""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    StaticSelectElement,
)

from approvals.models import ApprovalRequest, Gate, Level
from bot.blocks import modal, request_metadata
from bot.edit_values import (
    ERROR_CHARS,
    MAX_TEXT_CHARS,
    UNREADABLE,
    InvalidValue,
    clean,
    parse_integer,
    parse_json,
    parse_number,
    parse_text,
    schema_problems,
)
from bot.formatting import approver, as_text, escape, shorten
from bot.ids import ActionId, BlockId, CallbackId

_MAX_INPUT_CHARS = MAX_TEXT_CHARS
_MAX_INPUTS = 95  # a modal holds 100 blocks; leave room for the context lines


def _arg_schema(schema: dict[str, Any] | None, name: str, value: Any) -> dict[str, Any]:
    """The JSON schema of one argument, inferred from its proposed value when the tool has none."""
    properties = (schema or {}).get("properties")
    prop = properties.get(name) if isinstance(properties, dict) else None
    if prop:
        return _resolve(prop, schema or {})
    inferred = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(type(value))
    return {"type": inferred} if inferred else {}


def _resolve(prop: Any, root: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    # pydantic writes Optional[X] as anyOf [X, null] and enums as $ref to $defs; hand-written schemas
    # may say "type": [X, "null"]. Anything odd (a boolean schema, a $ref cycle) is edited as JSON.
    if not isinstance(prop, dict) or depth > 8:
        return {}
    if isinstance(prop.get("$ref"), str):
        defs = root.get("$defs")
        target = defs.get(prop["$ref"].rsplit("/", 1)[-1]) if isinstance(defs, dict) else None
        rest = {k: v for k, v in prop.items() if k != "$ref"}
        return _resolve({**target, **rest} if isinstance(target, dict) else rest, root, depth + 1)
    if isinstance(prop.get("anyOf"), list):
        non_null = [p for p in prop["anyOf"] if not (isinstance(p, dict) and p.get("type") == "null")]
        if len(non_null) == 1 and len(prop["anyOf"]) == 2:
            return {**_resolve(non_null[0], root, depth + 1), "nullable": True}
    kinds = prop.get("type")
    if isinstance(kinds, list) and "null" in kinds and len(kinds) == 2:
        return {**prop, "type": next(k for k in kinds if k != "null"), "nullable": True}
    return prop


def _kind(prop: dict[str, Any]) -> str:
    if isinstance(prop.get("enum"), list) and prop["enum"]:
        return "enum"
    kind = prop.get("type")
    return kind if kind in ("number", "integer", "boolean", "string") else "json"


def _argument_names(schema: dict[str, Any] | None, args: dict[str, Any]) -> list[str]:
    """The arguments the modal offers, in order: the schema's properties, then any other proposed ones."""
    properties = (schema or {}).get("properties")
    declared = list(properties) if isinstance(properties, dict) else []
    return list(dict.fromkeys([*declared, *args]))[:_MAX_INPUTS]


def _element(kind: str, prop: dict[str, Any], value: Any) -> Any:
    has_value = value is not None
    if kind in ("number", "integer"):
        return NumberInputElement(
            action_id=ActionId.ARG_VALUE,
            is_decimal_allowed=kind == "number",
            initial_value=str(value) if has_value and not isinstance(value, bool) else None,
            min_value=prop.get("minimum"),
            max_value=prop.get("maximum"),
        )
    if kind in ("boolean", "enum"):
        choices = [True, False] if kind == "boolean" else prop["enum"]
        options = [Option(text=shorten(as_text(c), 75), value=json.dumps(c)) for c in choices]
        initial = next((o for o, c in zip(options, choices, strict=True) if has_value and c == value), None)
        return StaticSelectElement(action_id=ActionId.ARG_VALUE, options=options, initial_option=initial)
    text = (value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)) if has_value else None
    return PlainTextInputElement(
        action_id=ActionId.ARG_VALUE,
        initial_value=text if text and len(text) <= _MAX_INPUT_CHARS else None,
        multiline=kind == "json" or bool(text and (len(text) > 80 or "\n" in text)),
        max_length=_MAX_INPUT_CHARS,
    )


def _label(name: str, kind: str, prop: dict[str, Any]) -> str:
    suffix = {"json": " (JSON)", "integer": " (whole number)"}.get(kind, "")
    return shorten(prop.get("title") or name, 2000 - len(suffix)) + suffix


def edit_modal(
    approval: ApprovalRequest, position: int = 0, *, from_home: bool = False, preview: str | None = None
) -> dict[str, Any]:
    """The Edit modal for one action of a request, prefilled with the proposed values; `preview` says which
    rule the values typed so far fall under (each argument reports them when Enter is pressed in it)."""
    action = approval.actions[position]
    schema = action.args_schema
    # Without a schema every proposed argument is kept required; with one, the schema says.
    required = set(schema.get("required", [])) if schema else set(action.args)
    names = _argument_names(schema, action.args)
    blocks: list[Block] = [
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"Change what `{escape(action.tool)}` will be called with. Under its rule, approving runs it with "
                    "these values; values another rule governs are proposed to that rule's deciders instead."
                ),
                *([MarkdownTextObject(text=preview)] if preview else []),
            ]
        )
    ]
    for name in names:
        prop = _arg_schema(schema, name, action.args.get(name))
        kind = _kind(prop)
        description = prop.get("description")
        blocks.append(
            InputBlock(
                block_id=BlockId.for_arg(name),
                label=_label(name, kind, prop),
                element=_element(kind, prop, action.args.get(name)),
                hint=shorten(description, 2000) if description else None,
                optional=name not in required,
                # Enter in a field (a choice in a select) asks the app which rule the values fall under.
                dispatch_action=True,
            )
        )
    if approval.gate_of(position).level is Level.MANUAL:
        blocks.append(
            InputBlock(
                block_id=BlockId.CONFIRM,
                label="Type CONFIRM to approve with these values",
                element=PlainTextInputElement(action_id=ActionId.CONFIRM, max_length=20),
            )
        )
    return modal(
        callback_id=CallbackId.EDIT_MODAL,
        title=shorten(f"Edit {action.tool}", 24),
        submit="Approve edits",
        private_metadata=request_metadata(approval, position, from_home=from_home),
        blocks=blocks,
    )


def rule_preview(current: Gate, gate: Gate | None) -> str:
    """What the Edit modal says of the values typed so far: the rule they fall under (`gate`; None when some
    value cannot be read yet), and whether submitting decides or proposes."""
    if gate is None:
        return ":grey_question: Fix the values above to see which rule they fall under."
    if gate.rule == current.rule:
        return f":white_check_mark: These values stay under rule _{escape(gate.rule)}_: submitting decides the call."
    who = ", ".join(approver(a) for a in gate.approvers) or "the members of its channel"
    return (
        f":arrow_right: These values fall under rule _{escape(gate.rule)}_ ({who} may decide): submitting proposes them "
        "to its deciders and decides nothing."
    )


def _submitted(kind: str, state: Any) -> str | None:
    """The raw text Slack sent for one input (None when left empty), read where its element keeps it."""
    if state is None:
        return None
    if not isinstance(state, dict):
        raise InvalidValue(UNREADABLE)
    element = state.get(ActionId.ARG_VALUE)
    if element is None:
        return None
    if not isinstance(element, dict):
        raise InvalidValue(UNREADABLE)
    if kind in ("boolean", "enum"):
        selected = element.get("selected_option")
        if selected is None:
            return None
        raw = selected.get("value") if isinstance(selected, dict) else None
    else:
        raw = element.get("value")
        if raw is None or raw == "":
            return None
    if not isinstance(raw, str):
        raise InvalidValue(UNREADABLE)
    return raw


def _parse(kind: str, raw: str) -> Any:
    if kind == "integer":
        return parse_integer(raw)
    if kind == "number":
        return parse_number(raw)
    if kind == "string":
        return parse_text(raw)
    value = parse_json(raw)  # a select's option value is JSON too (see _element), and as hostile as any text
    if kind == "boolean" and not isinstance(value, bool):
        raise InvalidValue("Choose true or false.")
    return value


def _effective_schema(schema: dict[str, Any] | None, args: dict[str, Any]) -> dict[str, Any]:
    """The tool's schema; without one, the types of the proposed values, every proposed argument required
    (as the modal marks them)."""
    if schema is not None:
        return schema
    properties = {name: _arg_schema(None, name, value) for name, value in args.items()}
    return {"type": "object", "properties": properties, "required": list(args)}


def parse_edit_submission(approval: ApprovalRequest, position: int, values: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The edited arguments of action `position` from a submitted Edit modal, and inline errors by block id
    (empty when valid).

    Only the arguments the modal offers are read; each is parsed strictly for its kind (see
    `bot.edit_values`), then all of them are checked against the tool's schema. Nothing raises for
    any `values`, however tampered: every problem is an inline error on its argument's block, and
    arguments come back only when there is no error, ready to store and hand to the tool.
    """
    action = approval.actions[position]
    schema = action.args_schema
    names = _argument_names(schema, action.args)
    state = values if isinstance(values, dict) else {}
    edited: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in names:
        block_id = BlockId.for_arg(name)
        kind = _kind(_arg_schema(schema, name, action.args.get(name)))
        try:
            raw = _submitted(kind, state.get(block_id))
            if raw is not None:
                edited[name] = _parse(kind, raw)
        except InvalidValue as problem:
            errors[block_id] = problem.message
    for argument, message in schema_problems(_effective_schema(schema, action.args), edited):
        if argument in names:
            errors.setdefault(BlockId.for_arg(argument), message)
        else:
            # A problem of the whole call, or of an argument the modal has no input for: shown on the first input.
            first = BlockId.for_arg(names[0] if names else argument or "")
            errors.setdefault(first, shorten(f"{clean(argument)}: {message}" if argument else message, ERROR_CHARS))
    return (edited, {}) if not errors else ({}, errors)
