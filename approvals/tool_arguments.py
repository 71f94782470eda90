"""A tool call's arguments as the tool will receive them, so policy conditions judge what runs.

A LangChain tool validates its arguments with pydantic in lax mode: a model that sends `amount` as
the text `"25000"` gets a tool that refunds 25000.0. A condition such as `amount >= 10000` must see
that number, not the text. This converts, by the tool's JSON schema, the values pydantic's lax mode
converts the same unambiguous way (numeric text to numbers, a whole float to an integer, the usual
words to booleans), fills in the defaults of what was left out, and leaves anything else as it is:
a condition that then cannot be evaluated fails closed (`PolicySet.rule_for`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

# What pydantic's lax mode reads as a boolean (case-insensitive).
_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}
_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")


def as_received(args: Mapping[str, Any], schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """`args` converted as the tool's validation would convert them (unchanged without a schema)."""
    if not schema:
        return dict(args)
    converted = _convert(dict(args), schema, schema)
    return converted if isinstance(converted, dict) else dict(args)


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        if isinstance(target, Mapping):
            return target
    return schema


def _convert(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    schema = _resolve(schema, root)
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list):
        if value is None and any(isinstance(o, Mapping) and o.get("type") == "null" for o in options):
            return None
        for option in options:
            if isinstance(option, Mapping):
                converted = _convert(value, option, root)
                if converted is not value or _matches(value, _resolve(option, root)):
                    return converted
        return value
    kind = schema.get("type")
    if kind == "number":
        return _number(value)
    if kind == "integer":
        return _integer(value)
    if kind == "boolean":
        return _boolean(value)
    if kind == "object" and isinstance(value, dict):
        properties = schema.get("properties") or {}
        # What the model left out, the tool gets its default for.
        defaults = {
            key: prop["default"]
            for key, prop in properties.items()
            if key not in value and isinstance(prop, Mapping) and "default" in prop
        }
        return {
            key: _convert(item, properties[key], root) if isinstance(properties.get(key), Mapping) else item
            for key, item in {**value, **defaults}.items()
        }
    if kind == "array" and isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_convert(item, schema["items"], root) for item in value]
    return value


def _matches(value: Any, schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    return {
        "string": isinstance(value, str),
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "null": value is None,
    }.get(kind if isinstance(kind, str) else "", False)


def _number(value: Any) -> Any:
    if isinstance(value, str) and _NUMBER.match(value):
        number = float(value)
        return number if math.isfinite(number) else value
    if isinstance(value, bool):
        return value  # pydantic refuses a boolean for a number: the tool call fails, and so does the condition
    return value


def _integer(value: Any) -> Any:
    if isinstance(value, str) and _INTEGER.match(value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _boolean(value: Any) -> Any:
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value
