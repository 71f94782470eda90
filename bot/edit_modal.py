"""The Edit modal: one input per argument, typed from the tool's JSON schema, and its validation.

Numbers become number inputs, booleans and enums selects, strings text inputs, and anything
nested a JSON text area. A submission is parsed back field by field and checked against the
schema; every problem is reported inline on its own field.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
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
from slack_sdk.models.views import View

from approvals.models import ApprovalRequest, Level
from bot.formatting import as_text, escape, shorten
from bot.ids import ActionId, BlockId, CallbackId
from bot.metadata import ApprovalRef

_MAX_INPUT_CHARS = 3000
_MAX_INPUTS = 95  # a modal holds 100 blocks; leave room for the context lines


def _arg_schema(schema: dict[str, Any] | None, name: str, value: Any) -> dict[str, Any]:
    """The JSON schema of one argument, inferred from its proposed value when the tool has none."""
    prop = ((schema or {}).get("properties") or {}).get(name)
    if prop:
        return _resolve(prop, schema or {})
    inferred = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(type(value))
    return {"type": inferred} if inferred else {}


def _resolve(prop: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    # pydantic writes Optional[X] as anyOf [X, null] and enums as $ref to $defs.
    if "$ref" in prop:
        ref = prop["$ref"].rsplit("/", 1)[-1]
        prop = {**(root.get("$defs") or {}).get(ref, {}), **{k: v for k, v in prop.items() if k != "$ref"}}
    if "anyOf" in prop:
        non_null = [p for p in prop["anyOf"] if p.get("type") != "null"]
        if len(non_null) == 1:
            return {**_resolve(non_null[0], root), "nullable": True}
    return prop


def _kind(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return "enum"
    kind = prop.get("type")
    return kind if kind in ("number", "integer", "boolean", "string") else "json"


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
        initial = next((o for o, c in zip(options, choices) if has_value and c == value), None)
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


def edit_modal(approval: ApprovalRequest, position: int = 0, *, from_home: bool = False) -> dict[str, Any]:
    """The Edit modal for one action of a request, prefilled with the proposed values."""
    action = approval.actions[position]
    schema = action.args_schema
    # Without a schema every proposed argument is kept required; with one, the schema says.
    required = set(schema.get("required", [])) if schema else set(action.args)
    names = list(dict.fromkeys([*((schema or {}).get("properties") or {}), *action.args]))
    blocks: list[Block] = [
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"Change what `{escape(action.tool)}` will be called with. Approving runs it with these values."
                )
            ]
        )
    ]
    for name in names[:_MAX_INPUTS]:
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
            )
        )
    if approval.gate.level is Level.MANUAL:
        blocks.append(
            InputBlock(
                block_id=BlockId.CONFIRM,
                label="Type CONFIRM to approve with these values",
                element=PlainTextInputElement(action_id=ActionId.CONFIRM, max_length=20),
            )
        )
    view = View(
        type="modal",
        callback_id=CallbackId.EDIT_MODAL,
        title=shorten(f"Edit {action.tool}", 24),
        submit="Approve edits",
        close="Cancel",
        private_metadata=ApprovalRef(approval_id=approval.id, action=position, home=from_home).dump(),
        blocks=blocks,
    )
    return view.to_dict()


def _element_value(element: dict[str, Any]) -> str | None:
    if element.get("type") == "static_select":
        selected = element.get("selected_option")
        return selected["value"] if selected else None
    value = element.get("value")
    return None if value is None or value == "" else value


def _parse(kind: str, raw: str) -> Any:
    if kind in ("boolean", "enum", "json"):
        return json.loads(raw)
    if kind in ("integer", "number"):
        try:
            return int(raw)  # a whole number keeps every digit; float() keeps about 16
        except ValueError:
            number = float(raw)
        if kind == "integer":
            if not number.is_integer():
                raise ValueError
            return int(number)
        return int(number) if number.is_integer() and "." not in raw else number
    return raw


_PARSE_ERRORS = {
    "integer": "Enter a whole number.",
    "number": "Enter a number.",
    "json": "Enter valid JSON (e.g. {\"key\": \"value\"} or [1, 2]).",
    "boolean": "Choose true or false.",
    "enum": "Choose one of the options.",
}


def parse_edit_submission(
    approval: ApprovalRequest, position: int, values: dict[str, dict[str, dict[str, Any]]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The edited arguments of action `position` from a submitted Edit modal, and inline errors by block id (empty when valid)."""
    action = approval.actions[position]
    schema = action.args_schema
    edited: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for block_id, actions in values.items():
        name = BlockId.arg_name(block_id)
        element = actions.get(ActionId.ARG_VALUE)
        if name is None or element is None:
            continue
        raw = _element_value(element)
        if raw is None:
            continue
        kind = _kind(_arg_schema(schema, name, action.args.get(name)))
        try:
            edited[name] = _parse(kind, raw)
        except ValueError:
            errors[block_id] = _PARSE_ERRORS.get(kind, "This value is not valid.")
    if schema and not errors:
        validator = jsonschema.Draft202012Validator(schema)
        for error in validator.iter_errors(edited):
            name = str(error.path[0]) if error.path else _missing_property(error)
            block_id = BlockId.for_arg(name) if name else next(iter(values), "")
            errors.setdefault(block_id, shorten(_friendly(error), 150))
    return edited, errors


def _missing_property(error: jsonschema.ValidationError) -> str | None:
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [p for p in error.validator_value if p not in error.instance]
        return missing[0] if missing else None
    return None


def _friendly(error: jsonschema.ValidationError) -> str:
    if error.validator == "required":
        return "This value is required."
    if error.validator == "type":
        return f"Expected {error.validator_value}."
    return error.message
