"""Strict Edit parsing: whatever an approver types (or a tampered request sends), the tool gets a value its
JSON schema accepts and the store keeps unchanged, or the field gets an inline error.

The named cases come from issue 9's fuzzing; the property-based tests generate tool schemas of every
kind the Edit modal supports and hostile submissions against them. Valid submissions are decided on
real stored requests (the session's database: SQLite, or PostgreSQL under TEST_DATABASE_URL) and read
back. Generation is derandomized, so every run checks the same examples; set COUNTERSIGN_FUZZ_SCALE=10
for a longer, randomized soak.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from approvals.models import (
    ApprovalRequest,
    Decision,
    DecisionType,
    NewApprovalRequest,
    ProposedAction,
    Run,
    RunStatus,
)
from approvals.store import Store
from bot.edit_modal import parse_edit_submission
from bot.ids import ActionId, BlockId
from sandbox.driver import number_value, plain_text_value, static_select_value

# --- the property's settings ------------------------------------------------------------------------

SCALE = int(os.environ.get("COUNTERSIGN_FUZZ_SCALE", "1"))


def fuzz(examples: int) -> settings:
    """Hypothesis settings for one property: `examples` deterministic examples (randomized when scaled up),
    no example database in the worktree, and a deadline far above a busy 2-core machine's worst case
    that still catches a runaway parse."""
    return settings(
        max_examples=examples * SCALE,
        derandomize=SCALE == 1,
        database=None,
        deadline=timedelta(seconds=5),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )


# --- building requests and submissions ----------------------------------------------------------------


def request(args: dict[str, Any], schema: dict[str, Any] | None) -> ApprovalRequest:
    """A pending request proposing one call with these arguments, under this argument schema."""
    return ApprovalRequest(
        id="apr_edit",
        thread_id="thr_edit",
        interrupt_id="int_edit",
        kind="langchain_hitl",
        actions=[ProposedAction(tool="tool", args=args, args_schema=schema)],
        run=Run(thread_id="thr_edit", agent="edit", input_text="edit"),
    )


def tool(**properties: dict[str, Any]) -> ApprovalRequest:
    """A request whose tool takes these required arguments; the proposed values don't matter here."""
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    return request({name: None for name in properties}, schema)


def submit(approval: ApprovalRequest, **elements: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse an Edit modal submission holding these elements, by argument name."""
    values = {BlockId.for_arg(name): {ActionId.ARG_VALUE: element} for name, element in elements.items()}
    return parse_edit_submission(approval, 0, values)


def error_on(name: str, approval: ApprovalRequest, element: dict[str, Any]) -> str:
    """The one inline error a submission of `element` for argument `name` gets (and nothing edited)."""
    edited, errors = submit(approval, **{name: element})
    assert edited == {} and list(errors) == [BlockId.for_arg(name)], errors
    return errors[BlockId.for_arg(name)]


INTEGER = tool(quantity={"type": "integer"})
NUMBER = tool(amount={"type": "number"})
TEXT = tool(reason={"type": "string"})
DOCUMENT = tool(payload={"type": "object"})


# --- numbers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["NaN", "nan", "-NaN", "Infinity", "-Infinity", "inf", "+inf"])
def test_nan_and_infinity_are_refused_in_a_number_field(spelling: str) -> None:
    assert error_on("amount", NUMBER, number_value(spelling)) == "Enter a finite number: NaN and Infinity are not allowed."


def test_a_number_that_overflows_to_infinity_is_refused() -> None:
    assert "too large" in error_on("amount", NUMBER, number_value("1e400"))


@pytest.mark.parametrize("digits", ["١٠٠", "۱۰۰", "１００", "१००"])
def test_non_ascii_digits_are_refused_and_the_error_says_to_use_0_to_9(digits: str) -> None:
    assert error_on("amount", NUMBER, number_value(digits)).startswith("Type the number with the digits 0-9")


@pytest.mark.parametrize("separated", ["1_000", "1,000", "1 000"])
def test_digit_separators_are_refused_and_the_error_says_so(separated: str) -> None:
    assert "without separators" in error_on("quantity", INTEGER, number_value(separated))


@pytest.mark.parametrize("written", ["0x10", "0b101", "0o17", "1e", "--1", "1.2.3", "½"])
def test_anything_but_a_decimal_number_is_refused(written: str) -> None:
    assert error_on("amount", NUMBER, number_value(written)) == "Enter a number."


def test_a_decimal_too_precise_for_the_tool_to_receive_exactly_is_refused() -> None:
    # As a double, 99.99999999999999999 is 100.0: the tool would get a different number than typed.
    assert "more digits than a tool can receive exactly" in error_on("amount", NUMBER, number_value("99.99999999999999999"))


def test_a_decimal_that_would_underflow_to_zero_is_refused() -> None:
    assert "more digits" in error_on("amount", NUMBER, number_value("1e-400"))


@pytest.mark.parametrize("typed", ["1e-99999999999999999999", "0e99999999999999999999"])
def test_an_exponent_too_long_to_compute_with_is_refused_not_a_crash(typed: str) -> None:
    assert "more digits" in error_on("amount", NUMBER, number_value(typed))


@pytest.mark.parametrize(("typed", "value"), [("0.1", 0.1), ("1e3", 1000.0), ("-2.5E-3", -0.0025), (" 7.50 ", 7.5), (".5", 0.5)])
def test_a_decimal_number_is_the_float_typed(typed: str, value: float) -> None:
    edited, errors = submit(NUMBER, amount=number_value(typed))

    assert errors == {} and edited == {"amount": value} and type(edited["amount"]) is float


def test_a_whole_number_in_a_number_field_stays_an_exact_int() -> None:
    edited, errors = submit(NUMBER, amount=number_value("9007199254740993"))

    assert errors == {} and edited == {"amount": 9007199254740993}


@pytest.mark.parametrize("written", ["99.99999999999999999", "12.5", "100.0", "1e3"])
def test_a_whole_number_field_takes_digits_only(written: str) -> None:
    message = error_on("quantity", INTEGER, number_value(written))

    assert message == "Enter a whole number: digits only, without a decimal point or exponent (e.g. 1000)."


@pytest.mark.parametrize(
    ("typed", "value"), [("42", 42), ("-7", -7), ("+3", 3), (" 12 ", 12), ("18446744073709551615", 2**64 - 1)]
)
def test_a_whole_number_is_the_int_typed(typed: str, value: int) -> None:
    assert submit(INTEGER, quantity=number_value(typed)) == ({"quantity": value}, {})


@pytest.mark.parametrize("beyond", [str(2**64), str(-(2**63) - 1), "9" * 3000], ids=["2**64", "-2**63-1", "3000-nines"])
def test_a_whole_number_beyond_64_bits_is_refused_because_checkpoints_cannot_hold_it(beyond: str) -> None:
    assert error_on("quantity", INTEGER, number_value(beyond)).startswith("Enter a whole number from -9223372036854775808")


@pytest.mark.parametrize(
    ("schema", "typed", "message"),
    [
        ({"type": "number", "minimum": 1}, "0.5", "Enter a number of at least 1."),
        ({"type": "number", "maximum": 10}, "10.5", "Enter a number of at most 10."),
        ({"type": "integer", "exclusiveMinimum": 0}, "0", "Enter a number greater than 0."),
        ({"type": "integer", "exclusiveMaximum": 5}, "5", "Enter a number less than 5."),
        ({"type": "integer", "multipleOf": 5}, "12", "Enter a multiple of 5."),
    ],
)
def test_a_number_outside_the_schema_bounds_gets_an_inline_error_naming_the_bound(
    schema: dict[str, Any], typed: str, message: str
) -> None:
    assert error_on("n", tool(n=schema), number_value(typed)) == message


# --- text -------------------------------------------------------------------------------------------


def test_a_nul_character_in_text_is_refused() -> None:
    assert "NUL" in error_on("reason", TEXT, plain_text_value("refund\x00now"))


def test_a_lone_surrogate_in_text_is_refused() -> None:
    assert "lone UTF-16 surrogate" in error_on("reason", TEXT, plain_text_value("caf\ud800e"))


def test_text_with_emoji_accents_and_other_control_characters_is_kept_as_typed() -> None:
    text = "Rückerstattung 💸\tline\x01two\u200b"

    assert submit(TEXT, reason=plain_text_value(text)) == ({"reason": text}, {})


def test_text_longer_than_a_slack_input_sends_is_refused() -> None:
    assert error_on("reason", TEXT, plain_text_value("x" * 3001)) == "Enter at most 3,000 characters."


@pytest.mark.parametrize(
    ("schema", "typed", "message"),
    [
        ({"type": "string", "maxLength": 3}, "abcd", "Enter at most 3 characters."),
        ({"type": "string", "minLength": 2}, "a", "Enter at least 2 characters."),
        ({"type": "string", "pattern": "^[A-Z]{3}$"}, "usd", 'Must match the pattern "^[A-Z]{3}$".'),
        ({"type": "string", "format": "date"}, "tomorrow", "Enter a valid date (e.g. 2025-05-01)."),
        ({"type": "string", "format": "email"}, "nobody", "Enter a valid email (e.g. name@example.com)."),
    ],
)
def test_text_the_schema_refuses_gets_an_inline_error_saying_what_it_must_be(
    schema: dict[str, Any], typed: str, message: str
) -> None:
    assert error_on("s", tool(s=schema), plain_text_value(typed)) == message


# --- JSON -------------------------------------------------------------------------------------------


def test_3000_characters_of_nested_brackets_are_refused_without_recursing() -> None:
    assert "nests more than 32 levels" in error_on("payload", DOCUMENT, plain_text_value("[" * 1500 + "]" * 1500))


def test_deeply_nested_unbalanced_json_is_refused_by_its_depth() -> None:
    assert "nests more than 32 levels" in error_on("payload", DOCUMENT, plain_text_value('{"a":' * 500))


def nested(levels: int) -> Any:
    value: Any = [1]
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def test_json_nested_32_levels_is_accepted() -> None:
    assert submit(DOCUMENT, payload=plain_text_value(json.dumps(nested(32)))) == ({"payload": nested(32)}, {})


def test_json_nested_33_levels_is_refused() -> None:
    assert "nests more than 32 levels" in error_on("payload", DOCUMENT, plain_text_value(json.dumps(nested(33))))


def test_brackets_inside_json_strings_do_not_count_as_nesting() -> None:
    payload = {"note": "[[[[" * 200 + '\\"{{{{' * 100}

    assert submit(DOCUMENT, payload=plain_text_value(json.dumps(payload))) == ({"payload": payload}, {})


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused_inside_json(constant: str) -> None:
    assert error_on("payload", DOCUMENT, plain_text_value(f'{{"amount": {constant}}}')) == (
        f"JSON can't hold {constant}; enter a finite number."
    )


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ('{"note": "a\\u0000b"}', "NUL"),
        ('{"note": "\\udc00"}', "lone UTF-16 surrogate"),
        ('{"a\\u0000": 1}', "NUL"),
        ('{"n": 1e999}', "too large"),
        ('{"n": 18446744073709551616}', "Enter a whole number from"),
        ('{"n": 0.30000000000000000001}', "more digits"),
        ('{"a": 1, "a": 2}', 'The key "a" appears more than once'),
    ],
)
def test_json_holding_a_value_the_tool_cannot_receive_exactly_is_refused(payload: str, problem: str) -> None:
    assert problem in error_on("payload", DOCUMENT, plain_text_value(payload))


def test_invalid_json_gets_an_error_saying_where() -> None:
    message = error_on("payload", DOCUMENT, plain_text_value('{"city": Lyon}'))

    assert message.startswith("Enter valid JSON") and "line 1, column 10" in message


def test_json_longer_than_a_slack_input_sends_is_refused() -> None:
    assert error_on("payload", DOCUMENT, plain_text_value(json.dumps({"a": "x" * 3000}))).startswith("Enter at most 3,000")


def test_a_problem_deep_inside_json_says_where() -> None:
    schema = {"type": "object", "properties": {"lines": {"type": "array", "items": {"type": "integer", "minimum": 1}}}}

    message = error_on("order", tool(order=schema), plain_text_value('{"lines": [3, 0]}'))

    assert message == "lines[1]: Enter a number of at least 1."


# --- selects, nullable fields and missing values ----------------------------------------------------------


def test_a_select_value_outside_the_enum_is_refused_and_named() -> None:
    message = error_on("currency", tool(currency={"enum": ["USD", "EUR"]}), static_select_value('"JPY"'))

    assert message == '"JPY" is not allowed; choose one of "USD", "EUR".'


def test_a_tampered_select_value_with_nan_is_refused() -> None:
    assert "NaN" in error_on("level", tool(level={"enum": [1, 2]}), static_select_value("NaN"))


def test_a_boolean_select_takes_true_or_false_only() -> None:
    assert error_on("notify", tool(notify={"type": "boolean"}), static_select_value("1")) == "Choose true or false."


def test_an_enum_of_mixed_types_keeps_the_chosen_option_s_type() -> None:
    approval = tool(choice={"enum": [1, "1", True, None, [1]]})

    chosen = [
        submit(approval, choice=static_select_value(json.dumps(option)))[0]["choice"] for option in (1, "1", True, None, [1])
    ]

    assert [type(value) for value in chosen] == [int, str, bool, type(None), list]


def test_an_empty_optional_nullable_field_is_left_out_so_the_tool_uses_its_default() -> None:
    schema = {"type": "object", "properties": {"memo": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}}}

    assert parse_edit_submission(
        request({"memo": "x"}, schema), 0, {BlockId.for_arg("memo"): {ActionId.ARG_VALUE: plain_text_value(None)}}
    ) == ({}, {})


def test_a_nullable_integer_written_as_a_type_list_is_edited_as_a_whole_number() -> None:
    approval = tool(limit={"type": ["integer", "null"]})

    assert submit(approval, limit=number_value("5")) == ({"limit": 5}, {})
    assert submit(approval, limit=number_value("5.5"))[1] != {}


def test_a_required_argument_left_out_gets_required_on_its_block() -> None:
    assert parse_edit_submission(INTEGER, 0, {}) == ({}, {BlockId.for_arg("quantity"): "This value is required."})


# --- tampered submissions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "element",
    [
        5,
        "42",
        ["42"],
        {"type": "number_input", "value": 42},
        {"type": "number_input", "value": ["4", "2"]},
        {"type": "number_input", "value": {"n": 4}},
    ],
    ids=["int", "str", "list", "int-value", "list-value", "dict-value"],
)
def test_a_malformed_element_gets_an_inline_error_not_a_crash(element: Any) -> None:
    assert error_on("quantity", INTEGER, element) == "This value could not be read; enter it again."


@pytest.mark.parametrize(
    "element",
    [
        {"type": "static_select", "selected_option": "true"},
        {"type": "static_select", "selected_option": {"text": "true"}},
        {"type": "static_select", "selected_option": {"value": True}},
    ],
    ids=["str-option", "option-without-value", "bool-value"],
)
def test_a_malformed_select_gets_an_inline_error_not_a_crash(element: Any) -> None:
    assert error_on("notify", tool(notify={"type": "boolean"}), element) == "This value could not be read; enter it again."


def test_a_block_that_is_not_an_object_gets_an_inline_error() -> None:
    values = {BlockId.for_arg("quantity"): "42"}

    assert parse_edit_submission(INTEGER, 0, values) == (
        {},
        {BlockId.for_arg("quantity"): "This value could not be read; enter it again."},
    )


@pytest.mark.parametrize("values", [None, [], "values", 42], ids=["none", "list", "str", "int"])
def test_values_that_are_not_an_object_count_as_nothing_submitted(values: Any) -> None:
    assert parse_edit_submission(INTEGER, 0, values) == ({}, {BlockId.for_arg("quantity"): "This value is required."})


def test_an_argument_the_modal_does_not_offer_is_ignored() -> None:
    values = {
        BlockId.for_arg("quantity"): {ActionId.ARG_VALUE: number_value("2")},
        BlockId.for_arg("is_admin"): {ActionId.ARG_VALUE: plain_text_value("true")},
    }

    assert parse_edit_submission(INTEGER, 0, values) == ({"quantity": 2}, {})


def test_a_tool_schema_jsonschema_cannot_use_refuses_the_edit_inline() -> None:
    approval = tool(code={"type": "string", "pattern": "(unclosed"})

    edited, errors = submit(approval, code=plain_text_value("x"))

    assert edited == {} and list(errors) == [BlockId.for_arg("code")]
    assert errors[BlockId.for_arg("code")].startswith("This tool's argument schema can't be checked")


def test_a_ref_cycle_in_a_tool_schema_refuses_the_edit_inline_instead_of_recursing_forever() -> None:
    schema = {"type": "object", "properties": {"node": {"$ref": "#/$defs/Node"}}, "$defs": {"Node": {"$ref": "#/$defs/Node"}}}

    message = error_on("node", request({"node": 1}, schema), plain_text_value("1"))

    assert message.startswith("This tool's argument schema can't be checked")


# --- property: every generated submission --------------------------------------------------------------

# Characters a Slack payload can carry: any code point, lone surrogates (JSON's \ud800 escapes), NUL and
# other controls, digits of other scripts, and the characters numbers are written with.
CHARS = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),
    st.sampled_from("\x00\x01\x1b\x7f\u200b\ufeff\u3000٠١٢٣۴५０１２_,.eE+-∞"),
)
READABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
NUMBER_WORDS = [
    "NaN",
    "nan",
    "-NaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1e400",
    "-1e999",
    "1e-400",
    "0x1F",
    "1_000",
    "1,000",
    "١٢٣",
    "１２３",
    "99.99999999999999999",
    "1e3",
    "100.0",
    "5.",
    ".5",
    "-0",
    "+0",
    "00012",
    str(2**63),
    str(2**64 - 1),
    str(2**64),
    str(-(2**63)),
    str(-(2**63) - 1),
    "9" * 400,
    "",
    " ",
    "null",
    "true",
    "[]",
    "{}",
    '"1"',
    "1e",
    "e1",
    "--1",
    "1.2.3",
    "1e-99999999999999999999",
    "0e99999999999999999999",
    "1e99999999999999999999",
    "-0.0e-99999999999999999999",
]


def deep(depth: int) -> str:
    """Balanced brackets nested `depth` levels deep."""
    return "[" * depth + "]" * depth


# Any JSON value Python's json module writes, including what it should not: NaN, infinities, 80-bit integers,
# lone surrogates and NUL in strings and keys.
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | st.text(CHARS, max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(CHARS, max_size=6), inner, max_size=4),
    max_leaves=12,
)
FINITE_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-1000, 1000)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(READABLE, max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(READABLE, max_size=5), inner, max_size=3),
    max_leaves=6,
)

# Numbers as a decimal grammar allows them: any mantissa, any fraction, any exponent (however long).
NUMERALS = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "-", "+"]),
    st.integers(0, 10**30).map(str) | st.just(""),
    st.none().map(lambda _: "") | st.integers(0, 10**30).map(lambda digits: f".{digits}"),
    st.none().map(lambda _: "") | st.integers(-(10**30), 10**30).map(lambda power: f"e{power}"),
)

HOSTILE_TEXT = st.one_of(
    st.sampled_from(NUMBER_WORDS),
    NUMERALS,
    st.text(CHARS, max_size=30),
    st.integers(1, 2000).map(deep),
    st.integers(1, 400).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    st.integers(2990, 3010).map(lambda length: "x" * length),
    st.integers().map(str),
    st.floats().map(repr),
    ANY_JSON.map(json.dumps),
    ANY_JSON.map(lambda value: json.dumps(value, ensure_ascii=False)),
)

TAMPERED_ELEMENTS: st.SearchStrategy[Any] = st.sampled_from(
    [
        5,
        "5",
        None,
        [],
        {},
        {"type": "plain_text_input", "value": 5},
        {"type": "plain_text_input", "value": ["a"]},
        {"type": "number_input", "value": 1.5},
        {"type": "static_select", "selected_option": "true"},
        {"type": "static_select", "selected_option": {"value": 1}},
        {"type": "static_select", "selected_option": {}},
    ]
)


def text_element(value: Any) -> dict[str, Any]:
    return plain_text_value(None if value is None else value if isinstance(value, str) else json.dumps(value))


def json_element(value: Any) -> dict[str, Any]:
    return plain_text_value(None if value is None else json.dumps(value))


def number_element(value: Any) -> dict[str, Any]:
    return number_value(None if value is None else repr(value))


def select_element(value: Any) -> dict[str, Any]:
    return static_select_value(None if value is None else json.dumps(value))


@dataclass(frozen=True)
class Argument:
    """A generated tool argument: its JSON schema, values of the kind it takes (mostly valid), and how the
    Edit modal's element for it sends a value."""

    schema: dict[str, Any]
    values: st.SearchStrategy[Any]
    element: Callable[[Any], dict[str, Any]]
    hostile: Callable[[str], dict[str, Any]]
    defs: dict[str, Any] = field(default_factory=dict)


LOWER = st.sampled_from(["minimum", "exclusiveMinimum"])
UPPER = st.sampled_from(["maximum", "exclusiveMaximum"])
INTEGER_BOUND = st.none() | st.integers(-(10**6), 10**6)
NUMBER_BOUND = st.none() | st.floats(-1e9, 1e9, allow_nan=False) | st.integers(-(10**6), 10**6)
ODDS = st.integers(0, 99)  # one draw for "now and then" choices: ODDS < percent


def bounds(draw: st.DrawFn, numbers: st.SearchStrategy[Any]) -> dict[str, Any]:
    """Optional lower and upper bounds, inclusive or exclusive, lower below upper."""
    # abs() of a zero: hypothesis finds no floats between 0.0 and -0.0.
    low, high = (value if value != 0 else abs(value) for value in (draw(numbers), draw(numbers)))
    if low is not None and high is not None and low > high:
        low, high = high, low
    schema: dict[str, Any] = {}
    if low is not None:
        schema[draw(LOWER)] = low
    if high is not None:
        schema[draw(UPPER)] = high
    return schema


def lower(schema: dict[str, Any]) -> Any:
    return schema.get("minimum", schema.get("exclusiveMinimum"))


def upper(schema: dict[str, Any]) -> Any:
    return schema.get("maximum", schema.get("exclusiveMaximum"))


ANY_INTEGER = st.integers() | st.integers(2**63 - 2, 2**64 + 2)
ANY_NUMBER = st.floats() | st.integers(-(2**70), 2**70)


@st.composite
def integer_arguments(draw: st.DrawFn) -> Argument:
    schema = {"type": "integer", **bounds(draw, INTEGER_BOUND)}
    if draw(ODDS) < 20:
        schema["multipleOf"] = draw(st.integers(1, 7))
    values = st.integers(lower(schema), upper(schema)) | ANY_INTEGER
    return Argument(schema, values, number_element, number_value)


@st.composite
def number_arguments(draw: st.DrawFn) -> Argument:
    schema = {"type": "number", **bounds(draw, NUMBER_BOUND)}
    if draw(ODDS) < 20:
        schema["multipleOf"] = draw(st.sampled_from([0.5, 0.25, 2, 0.1]))
    values = st.floats(lower(schema), upper(schema), allow_nan=False, allow_infinity=False) | ANY_NUMBER
    return Argument(schema, values, number_element, number_value)


PATTERNS = {
    "^[A-Z]{3}$": ["USD", "usd", "EURO"],
    "^[a-z0-9_-]+$": ["order-42", "Order 42", ""],
    "\\d": ["a1", "abc", "٣"],  # Python's \d matches any Unicode digit, as jsonschema checks it
}
FORMATS = {
    "date": ["2025-05-01", "2025-02-30", "May 1"],
    "date-time": ["2025-05-01T09:30:00Z", "2025-05-01T09:30:00", "2025-05-01 09:30"],
    "email": ["ops@example.com", "nobody"],
    "uuid": [str(uuid.UUID(int=7)), "not-a-uuid"],
}


ANY_TEXT = st.text(READABLE, max_size=40) | st.text(CHARS, max_size=40)


@st.composite
def string_arguments(draw: st.DrawFn) -> Argument:
    schema: dict[str, Any] = {"type": "string"}
    shape = draw(ODDS)
    if shape < 30:
        schema["maxLength"] = draw(st.integers(0, 40))
    elif shape < 40:
        schema["minLength"] = draw(st.integers(0, 5))
    values = ANY_TEXT
    if 40 <= shape < 60:
        schema["pattern"] = draw(st.sampled_from(sorted(PATTERNS)))
        values = values | st.sampled_from(PATTERNS[schema["pattern"]])
    elif 60 <= shape < 80:
        schema["format"] = draw(st.sampled_from(sorted(FORMATS)))
        values = values | st.sampled_from(FORMATS[schema["format"]])
    return Argument(schema, values, text_element, plain_text_value)


def boolean_arguments() -> st.SearchStrategy[Argument]:
    return st.just(Argument({"type": "boolean"}, st.booleans(), select_element, static_select_value))


ENUM_MEMBERS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-5, 5, allow_nan=False),
    st.text(READABLE, max_size=6),
    st.text(CHARS, max_size=4),
    st.lists(st.integers(0, 3), max_size=2),
)


@st.composite
def enum_arguments(draw: st.DrawFn) -> Argument:
    members = draw(st.lists(ENUM_MEMBERS, min_size=1, max_size=5, unique_by=lambda m: json.dumps(m, sort_keys=True)))
    schema: dict[str, Any] = {"enum": members}
    defs: dict[str, Any] = {}
    if draw(ODDS) < 50:
        # pydantic writes an Enum argument as a $ref to $defs.
        name = f"Choice{draw(st.integers(0, 10**9))}"
        defs = {name: schema}
        schema = {"$ref": f"#/$defs/{name}"}
    values = st.sampled_from(members) | FINITE_JSON
    return Argument(schema, values, select_element, static_select_value, defs)


def scalar_arguments() -> st.SearchStrategy[Argument]:
    return st.one_of(integer_arguments(), number_arguments(), string_arguments(), boolean_arguments(), enum_arguments())


def json_arguments(inner: st.SearchStrategy[Argument]) -> st.SearchStrategy[Argument]:
    """Objects and arrays of generated arguments, and untyped values: the modal edits each as JSON."""

    @st.composite
    def objects(draw: st.DrawFn) -> Argument:
        parts = draw(st.dictionaries(st.sampled_from(KEYS), inner, min_size=1, max_size=3))
        required = draw(st.lists(st.sampled_from(sorted(parts)), unique=True))
        schema = {
            "type": "object",
            "properties": {key: part.schema for key, part in parts.items()},
            "required": required,
            "additionalProperties": draw(ODDS) < 50,
        }
        values = st.fixed_dictionaries(
            {key: parts[key].values for key in required},
            optional={key: part.values for key, part in parts.items() if key not in required},
        )
        defs = {key: value for part in parts.values() for key, value in part.defs.items()}
        return Argument(schema, values | FINITE_JSON, json_element, plain_text_value, defs)

    @st.composite
    def arrays(draw: st.DrawFn) -> Argument:
        item = draw(inner)
        schema: dict[str, Any] = {"type": "array", "items": item.schema}
        size = draw(ODDS)
        if size < 30:
            schema["maxItems"] = draw(st.integers(0, 4))
        elif size < 50:
            schema["minItems"] = draw(st.integers(0, 2))
        values = st.lists(item.values, max_size=5) | FINITE_JSON
        return Argument(schema, values, json_element, plain_text_value, item.defs)

    untyped = st.just(Argument({}, ANY_JSON | FINITE_JSON, json_element, plain_text_value))
    return st.one_of(objects(), arrays(), untyped)


def nullable(argument: Argument) -> Argument:
    """`Optional[X]` as pydantic writes it: anyOf [X, null] with a null default."""
    schema = {"anyOf": [argument.schema, {"type": "null"}], "default": None}
    return Argument(schema, argument.values | st.none(), argument.element, argument.hostile, argument.defs)


def nullable_by_type(argument: Argument) -> Argument:
    """`Optional[X]` as hand-written schemas say it: "type": [X, "null"] (X's other keywords kept)."""
    if not isinstance(argument.schema.get("type"), str):
        return nullable(argument)
    schema = {**argument.schema, "type": [argument.schema["type"], "null"]}
    return Argument(schema, argument.values | st.none(), argument.element, argument.hostile, argument.defs)


ARGUMENTS = st.deferred(
    lambda: st.one_of(
        scalar_arguments(),
        scalar_arguments().map(nullable),
        scalar_arguments().map(nullable_by_type),
        json_arguments(scalar_arguments() | json_arguments(scalar_arguments())),
        json_arguments(scalar_arguments()).map(nullable),
    )
)


NAMES = ["order_id", "amount", "reason", "quantity", "notify", "currency", "memo", "when", "tags", "address"]
KEYS = ["city", "zip", "n", "tags", "a"]
# What the agent proposed matters where the schema leaves an argument untyped: the modal infers from it.
PROPOSED = st.sampled_from([None, 0, 42, 2.5, "text", True, [1, 2], {"a": 1}])


@dataclass(frozen=True)
class Case:
    """A generated tool, the request proposing a call to it, and an Edit modal submission for that call."""

    approval: ApprovalRequest
    values: Any

    @property
    def schema(self) -> dict[str, Any]:
        schema = self.approval.action.args_schema
        assert schema is not None
        return schema


def element_for(draw: st.DrawFn, argument: Argument) -> Any:
    """What Slack sends for one input: a value of its kind, nothing, hostile text, or a tampered element."""
    how = draw(ODDS)
    if how < 55:
        return argument.element(draw(argument.values))
    if how < 65:
        return argument.element(None)
    if how < 90:
        return argument.hostile(draw(HOSTILE_TEXT))
    return draw(TAMPERED_ELEMENTS)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    arguments = {name: draw(ARGUMENTS) for name in names}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: argument.schema for name, argument in arguments.items()},
        "required": draw(st.lists(st.sampled_from(names), unique=True)),
    }
    defs = {key: value for argument in arguments.values() for key, value in argument.defs.items()}
    if defs:
        schema["$defs"] = defs
    proposed = {name: draw(PROPOSED) for name in names}
    values: Any = {}
    for name, argument in arguments.items():
        if draw(ODDS) < 92:  # now and then a block is missing altogether
            values[BlockId.for_arg(name)] = {ActionId.ARG_VALUE: element_for(draw, argument)}
    tamper = draw(ODDS)
    if tamper < 10:
        schema["additionalProperties"] = False
    elif tamper < 20:
        values[BlockId.for_arg("not_offered")] = {ActionId.ARG_VALUE: plain_text_value("1")}
    elif tamper < 25:
        values[BlockId.for_arg(names[0])] = draw(st.sampled_from(["x", 1, [], None]))
    elif tamper < 27:
        values = draw(st.sampled_from([None, [], "values"]))
    return Case(request(proposed, schema), values)


# --- checking the property -----------------------------------------------------------------------------


class Decisions:
    """Edits decided on real stored requests, as the bot decides them, and read back.

    The requests belong to one run that is already over and told, so a running stack's dispatcher owes
    it nothing; each request holds many actions, each decided once, so a round trip is one decide."""

    ACTIONS_PER_REQUEST = 20

    def __init__(self, store: Store) -> None:
        self.store = store
        self.thread_id = f"edit-fuzz-{uuid.uuid4().hex[:12]}"
        store.runs.create_run(Run(thread_id=self.thread_id, agent="edit_fuzz", input_text="fuzz", status=RunStatus.FAILED))
        store.runs.outcome_posted(self.thread_id)
        self.undecided: list[tuple[str, int]] = []
        self.count = 0

    def round_trip(self, edited: dict[str, Any]) -> dict[str, Any] | None:
        """Decide an Edit with these arguments and return them as the store reads them back."""
        if not self.undecided:
            action = ProposedAction(tool="fuzz", args={})
            new = NewApprovalRequest(
                thread_id=self.thread_id,
                interrupt_id=uuid.uuid4().hex,
                kind="langchain_hitl",
                actions=[action] * self.ACTIONS_PER_REQUEST,
            )
            approval_id = self.store.requests.create_request(new).id
            self.undecided = [(approval_id, p) for p in reversed(range(self.ACTIONS_PER_REQUEST))]
        approval_id, position = self.undecided.pop()
        decision = Decision(type=DecisionType.EDIT, decided_by="U0FUZZ", edited_args=edited)
        self.store.decisions.decide(approval_id, decision, positions=[position])
        self.count += 1
        stored = self.store.requests.get(approval_id).actions[position].decision
        return stored.edited_args if stored else None

    def close(self) -> None:
        """Decide what is left, so no request of the fuzz stays pending (App Home lists pending requests)."""
        for approval_id in {approval_id for approval_id, _ in self.undecided}:
            self.store.decisions.decide(approval_id, Decision(type=DecisionType.REJECT, decided_by="U0FUZZ", message="fuzz done"))


@pytest.fixture(scope="module")
def decisions(store: Store) -> Iterator[Decisions]:
    """Round trips through the session's store (SQLite, or PostgreSQL under TEST_DATABASE_URL)."""
    pool = Decisions(store)
    yield pool
    pool.close()


CHECKPOINTS = JsonPlusSerializer()


def same(a: Any, b: Any) -> bool:
    """Equal with the same JSON types all the way down (True is not 1, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return repr(a) == repr(b)
    return bool(a == b)


def storable_everywhere(value: Any) -> bool:
    """JSON that SQLite, PostgreSQL's json and msgpack all hold unchanged: finite floats, 64-bit integers,
    UTF-8-encodable strings without NUL, string keys."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and storable_everywhere(k) and storable_everywhere(v) for k, v in value.items())
    if isinstance(value, list):
        return all(storable_everywhere(item) for item in value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return "\x00" not in value
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**64
    if isinstance(value, float):
        return math.isfinite(value)
    return False


def offered_blocks(approval: ApprovalRequest) -> set[str]:
    action = approval.action
    names = set((action.args_schema or {}).get("properties", {})) | set(action.args)
    return {BlockId.for_arg(name) for name in names}


def check(approval: ApprovalRequest, values: Any, schema: dict[str, Any], decisions: Decisions) -> None:
    """The property: inline errors on the modal's own blocks and nothing edited, or arguments that validate
    against the schema, are storable everywhere, and read back from the store and from a checkpoint unchanged."""
    edited, errors = parse_edit_submission(approval, 0, values)

    if errors:
        assert edited == {}
        assert set(errors) <= offered_blocks(approval), errors
        for message in errors.values():
            assert isinstance(message, str) and 0 < len(message) <= 150
            assert message.isprintable(), message  # control characters and surrogates are shown escaped
        return
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator(schema, format_checker=validator.FORMAT_CHECKER).validate(edited)
    assert storable_everywhere(edited), edited
    assert same(decisions.round_trip(edited), edited)
    assert same(CHECKPOINTS.loads_typed(CHECKPOINTS.dumps_typed(edited)), edited)


@pytest.mark.slow
def test_every_edit_submission_gets_inline_errors_or_arguments_the_schema_accepts_and_the_store_keeps(
    decisions: Decisions,
) -> None:
    decided = decisions.count

    # With the two properties below, 1,000 generated submissions on each database the suite runs on.
    @fuzz(examples=500)
    @given(case=cases())
    def every_submission(case: Case) -> None:
        check(case.approval, case.values, case.schema, decisions)

    every_submission()
    # Not met vacuously: many generated submissions were valid, decided and read back.
    assert decisions.count - decided >= 100 * SCALE


@st.composite
def hostile_cases(draw: st.DrawFn) -> Case:
    """One argument of any kind, sent hostile text in the element its kind uses."""
    argument = draw(ARGUMENTS)
    schema = {"type": "object", "properties": {"arg": argument.schema}, "required": ["arg"]}
    if argument.defs:
        schema["$defs"] = argument.defs
    values = {BlockId.for_arg("arg"): {ActionId.ARG_VALUE: argument.hostile(draw(HOSTILE_TEXT))}}
    return Case(request({"arg": None}, schema), values)


@pytest.mark.slow
def test_hostile_text_in_any_kind_of_field_gets_an_inline_error_or_a_value_the_schema_accepts(
    decisions: Decisions,
) -> None:
    decided = decisions.count

    @fuzz(examples=400)
    @given(case=hostile_cases())
    def hostile_submission(case: Case) -> None:
        check(case.approval, case.values, case.schema, decisions)

    hostile_submission()
    # Most hostile text is refused, but some is a fine value for its field.
    assert decisions.count - decided >= 20 * SCALE


INFERRED = {bool: "boolean", int: "integer", float: "number", str: "string"}


@st.composite
def schemaless_cases(draw: st.DrawFn) -> tuple[ApprovalRequest, Any, dict[str, Any]]:
    """A tool without a schema: the modal infers each input from the proposed value, and every proposed
    argument is required. Returns the request, the submission, and the schema the modal implies."""
    proposed = draw(st.dictionaries(st.sampled_from(NAMES), FINITE_JSON, min_size=1, max_size=4))
    implied = {
        "type": "object",
        "properties": {name: {"type": INFERRED[type(v)]} if type(v) in INFERRED else {} for name, v in proposed.items()},
        "required": list(proposed),
    }
    values = {}
    for name, value in proposed.items():
        kind = INFERRED.get(type(value))
        text = draw(st.just(value) | FINITE_JSON | HOSTILE_TEXT)
        written = text if isinstance(text, str) else json.dumps(text)
        element = (
            number_value(written)
            if kind in ("integer", "number")
            else static_select_value(written)
            if kind == "boolean"
            else plain_text_value(written)
        )
        values[BlockId.for_arg(name)] = {ActionId.ARG_VALUE: draw(st.just(element) | TAMPERED_ELEMENTS)}
    return request(proposed, None), values, implied


@pytest.mark.slow
def test_edits_of_a_tool_without_a_schema_keep_the_proposed_types_or_get_inline_errors(decisions: Decisions) -> None:
    decided = decisions.count

    @fuzz(examples=100)
    @given(case=schemaless_cases())
    def schemaless_submission(case: tuple[ApprovalRequest, Any, dict[str, Any]]) -> None:
        approval, values, implied = case
        check(approval, values, implied, decisions)

    schemaless_submission()
    assert decisions.count - decided >= 15 * SCALE
