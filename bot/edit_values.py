"""Strict parsing of the values an approver types (or a tampered request sends) into the Edit modal.

Whatever is returned here can be handed to a tool, stored in SQL (SQLite's text JSON and
PostgreSQL's `json`) and carried by LangGraph's checkpoint serializer (msgpack) unchanged.
Anything else is refused with an `InvalidValue` whose message is the inline error Slack shows
on the field (at most 150 characters):

- Numbers are written with the ASCII digits 0-9: no `NaN` or `Infinity`, no `1_000` or `1,000`,
  no Arabic-Indic or full-width digits, no hex. A whole-number field takes digits only (with an
  optional sign): `1e3` and `100.0` are refused rather than guessed at, and so is
  `99.99999999999999999`, which is not a whole number. A number field also takes a decimal point
  and an exponent, but only when the double the tool receives is exactly the number typed
  (`99.99999999999999999` would arrive as `100.0`, so it is refused; `0.1` is kept).
- Whole numbers fit in 64 bits (-2**63 to 2**64 - 1): msgpack, which LangGraph's checkpoints
  use, refuses bigger ones, so a run resumed with one would crash.
- Text has no NUL character (PostgreSQL can't hold it, so the tool's outcome could never be
  stored) and no lone UTF-16 surrogate (it can't be encoded as UTF-8 for the tool or for Slack),
  and is at most 3,000 characters, the longest a Slack text input sends.
- JSON is at most 3,000 characters and nests at most 32 levels; its depth is measured before
  it is parsed, so no parse can recurse deeply. `NaN`, `Infinity`, numbers that overflow to
  infinity and repeated keys are refused, and every string and number in it follows the rules
  above.

`schema_problems` then checks the edited arguments against the tool's JSON schema with
jsonschema (bounds, `multipleOf`, lengths, `pattern`, `enum`, and `format` where jsonschema can
check it) and words each failure for the field it belongs to.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from bot.formatting import shorten

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 3000  # what a Slack plain_text_input sends at most (the modal asks for no more)
MAX_JSON_DEPTH = 32  # deep enough for real arguments; shallow enough for every recursive step after parsing
MIN_INTEGER = -(2**63)  # msgpack (LangGraph's checkpoints) holds signed and unsigned 64-bit integers
MAX_INTEGER = 2**64 - 1
ERROR_CHARS = 150  # Slack's limit for an inline error

ENTER_NUMBER = "Enter a number."
ENTER_WHOLE_NUMBER = "Enter a whole number."
UNREADABLE = "This value could not be read; enter it again."

_ASCII_SPACE = " \t\r\n"
_WHOLE = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NOT_FINITE = {"nan", "inf", "infinity"}
_SEPARATORS = "_, '\u00a0\u202f"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidValue(ValueError):
    """A submitted value the tool must not receive; the message is the inline error for its field."""

    def __init__(self, message: str) -> None:
        super().__init__(shorten(message, ERROR_CHARS))

    @property
    def message(self) -> str:
        """The inline error, at most 150 characters."""
        return str(self.args[0])


# --- numbers ---------------------------------------------------------------------------------------


def parse_integer(text: str) -> int:
    """A whole number typed with the digits 0-9 and an optional sign, within 64 bits."""
    digits = _number_text(text, ENTER_WHOLE_NUMBER)
    if not _WHOLE.fullmatch(digits):
        if _DECIMAL.fullmatch(digits):
            raise InvalidValue("Enter a whole number: digits only, without a decimal point or exponent (e.g. 1000).")
        raise InvalidValue(_why_not_a_number(digits, ENTER_WHOLE_NUMBER))
    return _integer(digits)


def parse_number(text: str) -> int | float:
    """A finite number typed with the digits 0-9, a decimal point and an exponent; whole numbers stay exact
    ints, others become the float that is exactly the number typed."""
    digits = _number_text(text, ENTER_NUMBER)
    if _WHOLE.fullmatch(digits):
        try:
            return _integer(digits)
        except InvalidValue:
            raise InvalidValue(
                "Too large to pass on exactly as a whole number (64 bits); round it and use an exponent, e.g. 1.2e20."
            ) from None
    if not _DECIMAL.fullmatch(digits):
        raise InvalidValue(_why_not_a_number(digits, ENTER_NUMBER))
    return _exact_float(digits)


def _number_text(text: str, fallback: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidValue(fallback)
    # Only ASCII white space around it: str.strip() would also drop e.g. U+3000, which Slack never adds.
    return text.strip(_ASCII_SPACE)


def _integer(digits: str) -> int:
    # At most 3000 characters, well under Python's 4300-digit limit for int(str).
    value = int(digits)
    if not MIN_INTEGER <= value <= MAX_INTEGER:
        raise InvalidValue(f"Enter a whole number from {MIN_INTEGER} to {MAX_INTEGER}.")
    return value


def _exact_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise InvalidValue("This number is too large; numbers go up to about 1.8e308.")
    # repr() is the shortest decimal that reads back as this float: if it is not the number typed,
    # the tool would get a different number (99.99999999999999999 -> 100.0, 1e-400 -> 0.0).
    try:
        exact = Decimal(literal) == Decimal(repr(value))
    except InvalidOperation:  # an exponent beyond what Decimal holds (1e-99999999999999999999)
        exact = False
    if not exact:
        raise InvalidValue(
            "This number has more digits than a tool can receive exactly; round it (15 significant digits are kept)."
        )
    return value


def _why_not_a_number(text: str, fallback: str) -> str:
    if text.lstrip("+-").lower() in _NOT_FINITE:
        return "Enter a finite number: NaN and Infinity are not allowed."
    other_digits = [c for c in text if c.isdigit() and not c.isascii()]
    if other_digits:
        return f"Type the number with the digits 0-9 (this has {unicodedata.name(other_digits[0], 'another digit').lower()})."
    if any(c in _SEPARATORS for c in text) and _DECIMAL.fullmatch("".join(c for c in text if c not in _SEPARATORS)):
        # "1,5" may mean 1.5: say how to write decimals too, so nobody "fixes" it to 15.
        return "Type the number without separators (_ , or spaces), with a point for decimals, e.g. 1234.5."
    return fallback


# --- text ------------------------------------------------------------------------------------------


def parse_text(text: str) -> str:
    """The text as typed, when a tool can receive it and SQL can store it."""
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidValue(f"Enter at most {MAX_TEXT_CHARS:,} characters.")
    _check_string(text)
    return text


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise InvalidValue("Remove the NUL character (\\u0000): it can't be stored or passed on.")
    if _LONE_SURROGATE.search(text):
        raise InvalidValue("Remove the invalid character (a lone UTF-16 surrogate, e.g. \\ud800) from this text.")


# --- JSON ------------------------------------------------------------------------------------------


def parse_json(text: str) -> Any:
    """A JSON value within the size and depth caps, holding only values a tool can receive exactly."""
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidValue(f"Enter at most {MAX_TEXT_CHARS:,} characters of JSON.")
    if _depth(text) > MAX_JSON_DEPTH:
        raise InvalidValue(f"This JSON nests more than {MAX_JSON_DEPTH} levels deep; flatten it.")
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_exact_float,
            parse_int=_integer,
            object_pairs_hook=_object,
        )
    except json.JSONDecodeError as error:
        raise InvalidValue(
            f'Enter valid JSON, e.g. {{"key": "value"}} or [1, 2] ({error.msg} at line {error.lineno}, column {error.colno}).'
        ) from None
    check_storable(value)
    return value


def _depth(text: str) -> int:
    """How deep the brackets of `text` nest outside strings (for any text, valid JSON or not)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise InvalidValue(f"JSON can't hold {name}; enter a finite number.")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads would keep the last of two equal keys silently; the approver may have meant the first.
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise InvalidValue(f"The key {show(key)} appears more than once; keep one.")
        seen.add(key)
    return dict(pairs)


def check_storable(value: Any, depth: int = 0) -> None:
    """Refuse a value that could not be stored and passed on unchanged (NUL, lone surrogates, non-finite
    floats, integers beyond 64 bits, deeper than the cap, or not a JSON type)."""
    if depth > MAX_JSON_DEPTH:
        raise InvalidValue(f"This JSON nests more than {MAX_JSON_DEPTH} levels deep; flatten it.")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        _check_string(value)
    elif isinstance(value, int):
        if not MIN_INTEGER <= value <= MAX_INTEGER:
            raise InvalidValue(f"Whole numbers go from {MIN_INTEGER} to {MAX_INTEGER}.")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValue("Enter a finite number: NaN and Infinity are not allowed.")
    elif isinstance(value, list):
        for item in value:
            check_storable(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidValue(UNREADABLE)
            _check_string(key)
            check_storable(item, depth + 1)
    else:
        raise InvalidValue(UNREADABLE)


# --- the tool's schema ------------------------------------------------------------------------------

SCHEMA_UNCHECKABLE = "This tool's argument schema can't be checked, so edits can't be approved; approve or reject as proposed."


def schema_problems(schema: dict[str, Any], arguments: dict[str, Any]) -> list[tuple[str | None, str]]:
    """What is wrong with `arguments` under the tool's JSON schema: (argument name or None, inline error)
    pairs, first the problems of each argument in the schema's order."""
    try:
        validator = _validator(json.dumps(schema, sort_keys=True, allow_nan=False))
        return [_problem(error) for error in validator.iter_errors(arguments)]
    except Exception:
        log.warning("could not check an edit against the tool's schema", exc_info=True)
        return [(None, SCHEMA_UNCHECKABLE)]


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)  # a private copy: the cache must not see a caller's later changes
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _problem(error: ValidationError) -> tuple[str | None, str]:
    path = list(error.absolute_path)
    if not path and error.validator == "required":
        missing = _missing(error)
        return missing, "This value is required."
    name = str(path[0]) if path else None
    where = _where(path[1:])
    return name, shorten(f"{where}: {_friendly(error)}" if where else _friendly(error), ERROR_CHARS)


def _missing(error: ValidationError) -> str | None:
    instance = error.instance if isinstance(error.instance, dict) else {}
    required = error.validator_value
    if not isinstance(required, Iterable):  # jsonschema's "unset" marker: no list of names to check
        return None
    return next((str(p) for p in required if p not in instance), None)


def _where(path: Iterable[Any]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{clean(str(step))}" if text else clean(str(step)))
    return shorten(text, 60)


_TYPES = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "object": 'an object ({"key": ...})',
    "array": "a list ([...])",
    "null": "null",
}


def _friendly(error: ValidationError) -> str:
    keyword, expected = error.validator, error.validator_value
    if keyword in ("anyOf", "oneOf") and error.context:
        return _friendly(best_match(error.context))
    if keyword == "required":
        missing = _missing(error)
        return f"{show(missing)} is required." if missing else "A required value is missing."
    if keyword == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return "Expected " + " or ".join(_TYPES.get(str(k), str(k)) for k in kinds) + "."
    if keyword == "enum" and isinstance(expected, list):
        return f"{show(error.instance)} is not allowed; choose one of {', '.join(show(c) for c in expected)}."
    messages = {
        "const": f"Must be {show(expected)}.",
        "minimum": f"Enter a number of at least {expected}.",
        "maximum": f"Enter a number of at most {expected}.",
        "exclusiveMinimum": f"Enter a number greater than {expected}.",
        "exclusiveMaximum": f"Enter a number less than {expected}.",
        "multipleOf": f"Enter a multiple of {expected}.",
        "minLength": f"Enter at least {expected} character{'s' if expected != 1 else ''}.",
        "maxLength": f"Enter at most {expected} character{'s' if expected != 1 else ''}.",
        "pattern": f'Must match the pattern "{shorten(clean(str(expected)), 80)}".',
        "format": f"Enter a valid {expected}{_FORMAT_EXAMPLES.get(str(expected), '')}.",
        "minItems": f"Give at least {expected} item{'s' if expected != 1 else ''}.",
        "maxItems": f"Give at most {expected} item{'s' if expected != 1 else ''}.",
        "uniqueItems": "Give each item once.",
        "minProperties": f"Give at least {expected} key{'s' if expected != 1 else ''}.",
        "maxProperties": f"Give at most {expected} key{'s' if expected != 1 else ''}.",
    }
    return messages.get(str(keyword)) or clean(error.message)


_FORMAT_EXAMPLES = {
    "date-time": " (e.g. 2025-05-01T09:30:00Z)",
    "date": " (e.g. 2025-05-01)",
    "time": " (e.g. 09:30:00Z)",
    "email": " (e.g. name@example.com)",
    "uuid": " (e.g. 123e4567-e89b-12d3-a456-426614174000)",
}


def show(value: Any) -> str:
    """A value as an inline error quotes it: JSON, shortened, with unprintable characters escaped."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return shorten(clean(text), 40)


def clean(text: str) -> str:
    """`text` with control characters and lone surrogates written as escapes, so an error shows them."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
