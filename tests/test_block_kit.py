"""Every Block Kit surface the bot builds, parsed with slack_sdk.models and re-validated with to_dict().

`to_dict()` enforces Slack's limits (section text 3000, fields 10 of 2000, header 150, modal title
24, button value 2000, option value 150, modal blocks 100, ...); the helpers below also check that
parsing loses nothing and that a message stays within 50 blocks, which slack_sdk does not check.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from approvals.admin_settings import Override, ScopedOverride
from approvals.models import (
    DEADLINE_DECIDER,
    IN_DOUBT_KIND,
    ApprovalRequest,
    Decision,
    DecisionType,
    Escalation,
    EscalationStage,
    Gate,
    ProposedAction,
    Run,
    Status,
    utcnow,
)
from bot.answer_modal import answer_modal, submitted_answer
from bot.args_modal import args_modal
from bot.confirm_modal import confirm_modal
from bot.edit_modal import edit_modal, parse_edit_submission
from bot.home import home_view
from bot.ids import ActionId, BlockId, CallbackId
from bot.metadata import ApprovalRef
from bot.reject_modal import reject_modal
from bot.request_message import ARG_PREVIEW_CHARS, request_message
from bot.settings_modal import settings_modal

MESSAGE_MAX_BLOCKS = 50
MODAL_MAX_BLOCKS = 100
SECTION_TEXT_MAX = 3000
LONG_TOOL = "transfer_funds_between_customer_accounts_with_manual_review_"  # 60 characters
MARKUP = "<!channel> & <https://evil.example|click here> > 1"

PAYMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "currency": {"type": "string", "enum": ["USD", "EUR", "GBP"]},
        "amount": {"type": "integer", "minimum": 1},
        "rate": {"type": "number"},
        "notify": {"type": "boolean"},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
        },
        "memo": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "recipient": {"type": "string"},
    },
    "required": ["currency", "amount", "rate", "notify", "address", "recipient"],
}
PAYMENT_ARGS: dict[str, Any] = {
    "currency": "EUR",
    "amount": 250,
    "rate": 1.5,
    "notify": True,
    "address": {"city": "Paris", "zip": "75001"},
    "memo": None,
    "recipient": "acme",
}


# --- building requests ---------------------------------------------------------------------------


def approval(
    args: dict[str, Any] | None = None,
    *,
    tool: str = "send_payment",
    args_schema: dict[str, Any] | None = None,
    status: Status = Status.PENDING,
    decision: Decision | None = None,
    input_text: str = "Refund order #42 for $250",
    agent_message: str = "The customer was charged twice.",
) -> ApprovalRequest:
    """A stored approval request for one proposed call, in the given state."""
    return ApprovalRequest(
        id="apr_0001",
        thread_id="thr_0001",
        interrupt_id="int_0001",
        kind="langchain_hitl",
        actions=[
            ProposedAction(
                tool=tool,
                args={"order_id": 42, "amount": 250} if args is None else args,
                description="Refund a customer's order.",
                args_schema=args_schema,
                decision=decision,
            )
        ],
        agent_message=agent_message,
        run=Run(thread_id="thr_0001", agent="payments", input_text=input_text, requested_by="U0REQUESTER"),
        status=status,
        channel="C0APPROVALS",
    )


def approved(args: dict[str, Any] | None = None, **kwargs: Any) -> ApprovalRequest:
    return approval(args, status=Status.APPROVED, decision=Decision(type=DecisionType.APPROVE, decided_by="U0APPROVER"), **kwargs)


def edited(args: dict[str, Any], edited_args: dict[str, Any], **kwargs: Any) -> ApprovalRequest:
    return approval(
        args,
        status=Status.EDITED,
        decision=Decision(type=DecisionType.EDIT, decided_by="U0APPROVER", edited_args=edited_args),
        **kwargs,
    )


def rejected(reason: str, **kwargs: Any) -> ApprovalRequest:
    return approval(
        status=Status.REJECTED,
        decision=Decision(type=DecisionType.REJECT, decided_by="U0APPROVER", message=reason),
        **kwargs,
    )


# --- validating what the builders return ---------------------------------------------------------


def valid_message(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The message's blocks, after checking that Slack would accept them."""
    parsed = Block.parse_all(message["blocks"])
    assert None not in parsed, "a block slack_sdk does not know"
    assert [block.to_dict() for block in parsed] == message["blocks"], "parsing lost or changed something"
    assert 1 <= len(parsed) <= MESSAGE_MAX_BLOCKS
    assert 0 < len(message["text"]) <= 3000
    return message["blocks"]


def valid_modal(view: dict[str, Any]) -> dict[str, Any]:
    """The view, after checking that Slack would accept it as a modal."""
    assert View(**view).to_dict() == view, "parsing lost or changed something"
    assert view["type"] == "modal"
    assert 1 <= len(view["blocks"]) <= MODAL_MAX_BLOCKS
    return view


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every mrkdwn / plain text in the blocks (section text and fields, context elements, header)."""
    found: list[str] = []
    for block in blocks:
        if "text" in block:
            found.append(block["text"]["text"])
        found.extend(field["text"] for field in block.get("fields", []))
        if block["type"] == "context":
            found.extend(element["text"] for element in block["elements"] if "text" in element)
    return found


def buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The message's buttons by action_id."""
    return {
        element["action_id"]: element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "button"
    }


def arg_fields(blocks: list[dict[str, Any]]) -> list[str]:
    return [field["text"] for block in blocks for field in block.get("fields", [])]


def input_block(view: dict[str, Any], arg: str) -> dict[str, Any]:
    (block,) = [block for block in view["blocks"] if block.get("block_id") == BlockId.for_arg(arg)]
    return block


def code_bodies(view: dict[str, Any]) -> list[str]:
    """The contents of the ``` code blocks of an args modal, in order."""
    return [body for block in view["blocks"] for body in re.findall(r"```(.*?)```", block["text"]["text"], re.S)]


def unescape(text: str) -> str:
    """Undo Slack's mrkdwn escaping (what the approver reads)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def submission(**elements: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """`view.state.values` of a submitted Edit modal, as Slack sends it."""
    return {BlockId.for_arg(name): {ActionId.ARG_VALUE: element} for name, element in elements.items()}


def text_input(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def number_input(value: str | None) -> dict[str, Any]:
    return {"type": "number_input", "value": value}


def select(value: Any) -> dict[str, Any]:
    option = {"text": {"type": "plain_text", "text": str(value)}, "value": json.dumps(value)}
    return {"type": "static_select", "selected_option": option}


def valid_payment(**overrides: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    elements = {
        "currency": select("USD"),
        "amount": number_input("300"),
        "rate": number_input("1.25"),
        "notify": select(False),
        "address": text_input('{"city": "Lyon", "zip": "69001"}'),
        "memo": text_input(None),
        "recipient": text_input("acme"),
    }
    return submission(**{**elements, **overrides})


# --- the request message, in each state ------------------------------------------------------------


def test_pending_message_offers_approve_edit_and_reject_for_this_request() -> None:
    blocks = valid_message(request_message(approval()))

    offered = buttons(blocks)

    assert list(offered) == [ActionId.APPROVE, ActionId.EDIT, ActionId.REJECT]
    assert {ApprovalRef.load(button["value"]).approval_id for button in offered.values()} == {"apr_0001"}


def test_pending_message_shows_the_request_the_reasoning_the_tool_and_its_arguments() -> None:
    shown = "\n".join(texts(valid_message(request_message(approval()))))

    assert "Refund order #42 for $250" in shown
    assert "The customer was charged twice." in shown
    assert "`send_payment`" in shown
    assert "*order_id*\n`42`" in shown
    assert "*amount*\n`250`" in shown


def test_approved_message_says_who_approved_and_offers_no_decision() -> None:
    blocks = valid_message(request_message(approved()))

    assert buttons(blocks) == {}
    assert any("*Approved* by <@U0APPROVER>" in text for text in texts(blocks))


def test_edited_message_shows_proposed_and_approved_values_of_a_changed_argument() -> None:
    blocks = valid_message(request_message(edited({"order_id": 42, "amount": 250}, {"order_id": 42, "amount": 200})))

    assert "*amount* (edited)\nproposed `250`\napproved `200`" in arg_fields(blocks)
    assert "*order_id*\n`42`" in arg_fields(blocks)
    assert any("*Approved with edits* by <@U0APPROVER>" in text for text in texts(blocks))
    assert buttons(blocks) == {}


def test_rejected_message_quotes_the_reason() -> None:
    blocks = valid_message(request_message(rejected("Refunds over $200 need a ticket.")))

    (line,) = [text for text in texts(blocks) if "*Rejected* by <@U0APPROVER>" in text]
    assert line.endswith("\n>Refunds over $200 need a ticket.")
    assert buttons(blocks) == {}


@pytest.mark.parametrize(
    "quoted",
    ["&" * 1500, "<b>" * 700, "\n" * 2000, "line\n" * 900],
    ids=["ampersands", "angle-brackets", "blank-lines", "many-lines"],
)
@pytest.mark.parametrize("where", ["request", "reasoning", "rejection reason"])
def test_quoted_text_full_of_markup_stays_within_a_sections_limit(quoted: str, where: str) -> None:
    request = {
        "request": lambda: approval(input_text=quoted),
        "reasoning": lambda: approval(agent_message=quoted),
        "rejection reason": lambda: rejected(quoted),
    }[where]()

    blocks = valid_message(request_message(request))

    assert all(len(text) <= SECTION_TEXT_MAX for text in texts(blocks))


def test_markup_characters_in_argument_values_are_escaped_in_the_message() -> None:
    fields = arg_fields(valid_message(request_message(approval({"note": MARKUP}))))

    assert fields == ["*note*\n`&lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt; &gt; 1`"]


def test_bidirectional_and_control_characters_in_an_argument_are_named_not_applied() -> None:
    fields = arg_fields(valid_message(request_message(approval({"amount": "\u202e0005$\x07"}))))

    assert fields == ["*amount*\n`[U+202E]0005$\u2407`"]


def test_markup_characters_in_the_request_are_escaped_in_the_message() -> None:
    shown = "\n".join(texts(valid_message(request_message(approval(input_text=MARKUP)))))

    assert ">&lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt; &gt; 1" in shown
    assert "<!channel>" not in shown


def test_an_action_without_arguments_says_so_in_the_message() -> None:
    blocks = valid_message(request_message(approval({})))

    assert "_No arguments._" in texts(blocks)
    assert ActionId.VIEW_ARGS not in buttons(blocks)


def test_25_arguments_are_all_shown_in_sections_of_at_most_10_fields() -> None:
    args = {f"arg_{n:02}": n for n in range(25)}

    blocks = valid_message(request_message(approval(args)))

    assert [len(block["fields"]) for block in blocks if "fields" in block] == [10, 10, 5]
    assert arg_fields(blocks) == [f"*arg_{n:02}*\n`{n}`" for n in range(25)]


def test_a_60_character_tool_name_keeps_the_header_within_150_characters() -> None:
    blocks = valid_message(request_message(approval(tool=LONG_TOOL)))

    (header,) = [block for block in blocks if block["type"] == "header"]
    assert len(header["text"]["text"]) <= 150
    assert f"*Tool:* `{LONG_TOOL}`" in texts(blocks)


# --- a 10,000-character argument -------------------------------------------------------------------


HUGE = "x" * 10_000


def test_a_10000_character_argument_is_shortened_in_the_message() -> None:
    (field,) = arg_fields(valid_message(request_message(approval({"body": HUGE}))))

    assert field == f"*body*\n`{'x' * (ARG_PREVIEW_CHARS - 1)}…`"


def test_a_shortened_argument_adds_a_view_full_arguments_button_for_this_request() -> None:
    offered = buttons(valid_message(request_message(approval({"body": HUGE}))))

    assert list(offered) == [ActionId.APPROVE, ActionId.EDIT, ActionId.REJECT, ActionId.VIEW_ARGS]
    assert ApprovalRef.load(offered[ActionId.VIEW_ARGS]["value"]).approval_id == "apr_0001"


def test_a_decided_message_keeps_only_the_view_full_arguments_button() -> None:
    offered = buttons(valid_message(request_message(approved({"body": HUGE}))))

    assert list(offered) == [ActionId.VIEW_ARGS]


def test_short_arguments_need_no_view_full_arguments_button() -> None:
    blocks = valid_message(request_message(approval({"body": "x" * ARG_PREVIEW_CHARS})))

    assert ActionId.VIEW_ARGS not in buttons(blocks)


def test_an_edit_of_a_10000_character_argument_stays_within_the_field_limit() -> None:
    blocks = valid_message(request_message(edited({"body": HUGE}, {"body": HUGE + "y"})))

    (field,) = arg_fields(blocks)
    assert field.startswith("*body* (edited)\nproposed `")
    assert ActionId.VIEW_ARGS in buttons(blocks)


# --- the args modal ------------------------------------------------------------------------------


def test_args_modal_shows_a_10000_character_value_whole_across_several_sections() -> None:
    view = valid_modal(args_modal(approval({"body": HUGE})))

    assert view["callback_id"] == CallbackId.ARGS_MODAL
    assert len(view["blocks"]) > 1
    assert "".join(code_bodies(view)) == HUGE


def test_args_modal_splits_a_long_value_with_markup_without_breaking_an_escape() -> None:
    value = ("<a href='x'>&amp;</a> " * 500)[:10_000]

    view = valid_modal(args_modal(approval({"body": value})))

    bodies = code_bodies(view)
    assert len(bodies) > 1
    assert not [body for body in bodies if "&" in re.sub(r"&(amp|lt|gt);", "", body)], "an escape cut in two"
    assert unescape("".join(bodies)) == value


def test_args_modal_fits_a_long_value_under_a_long_tool_and_argument_name() -> None:
    view = valid_modal(args_modal(approval({"a_fairly_long_argument_name_for_the_body": HUGE}, tool=LONG_TOOL)))

    assert all(len(block["text"]["text"]) <= SECTION_TEXT_MAX for block in view["blocks"])
    assert view["blocks"][0]["text"]["text"].startswith(f"*{LONG_TOOL} · a_fairly_long_argument_name_for_the_body*\n")
    assert "".join(code_bodies(view)) == HUGE


def test_args_modal_shows_proposed_and_approved_values_of_an_edit() -> None:
    view = valid_modal(args_modal(edited({"body": HUGE}, {"body": "short"})))

    sections = [block["text"]["text"] for block in view["blocks"]]
    headings = [text.split("\n", 1)[0] for text in sections if text.startswith("*")]
    assert headings == ["*send_payment · body*", "*send_payment · body (approved)*"]


def test_args_modal_stops_within_100_blocks_and_says_the_rest_does_not_fit() -> None:
    view = valid_modal(args_modal(approval({f"body_{n}": HUGE for n in range(30)})))

    assert len(view["blocks"]) == MODAL_MAX_BLOCKS
    assert "the rest does not fit" in view["blocks"][-1]["text"]["text"]


def test_args_modal_for_an_action_without_arguments_says_so() -> None:
    view = valid_modal(args_modal(approval({})))

    assert [block["text"]["text"] for block in view["blocks"]] == ["_No arguments._"]


def test_args_modal_escapes_markup_characters() -> None:
    view = valid_modal(args_modal(approval({"note": MARKUP})))

    assert code_bodies(view) == ["&lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt; &gt; 1"]


# --- modal titles --------------------------------------------------------------------------------


@pytest.mark.parametrize("modal", [edit_modal, reject_modal, args_modal], ids=lambda modal: modal.__name__)
def test_a_60_character_tool_name_keeps_the_modal_title_within_24_characters(modal: Any) -> None:
    view = valid_modal(modal(approval(tool=LONG_TOOL)))

    assert len(view["title"]["text"]) <= 24


# --- the reject modal ----------------------------------------------------------------------------


def test_reject_modal_asks_for_a_required_reason_about_this_request() -> None:
    view = valid_modal(reject_modal(approval()))

    (reason,) = [block for block in view["blocks"] if block["type"] == "input"]
    assert view["callback_id"] == CallbackId.REJECT_MODAL
    assert ApprovalRef.load(view["private_metadata"]) == ApprovalRef(approval_id="apr_0001")
    assert reason["block_id"] == BlockId.REJECT_REASON
    assert reason["element"]["action_id"] == ActionId.REJECT_REASON
    assert reason.get("optional", False) is False
    assert reason["element"]["min_length"] == 1


# --- the edit modal ------------------------------------------------------------------------------


@pytest.fixture
def payment() -> ApprovalRequest:
    return approval(PAYMENT_ARGS, args_schema=PAYMENT_SCHEMA)


def test_edit_modal_has_one_input_per_argument_about_this_request(payment: ApprovalRequest) -> None:
    view = valid_modal(edit_modal(payment))

    inputs = [block for block in view["blocks"] if block["type"] == "input"]
    assert view["callback_id"] == CallbackId.EDIT_MODAL
    assert ApprovalRef.load(view["private_metadata"]).approval_id == "apr_0001"
    assert [block["block_id"] for block in inputs] == [BlockId.for_arg(name) for name in PAYMENT_SCHEMA["properties"]]
    assert {block["element"]["action_id"] for block in inputs} == {ActionId.ARG_VALUE}


def test_edit_modal_offers_an_enum_as_a_select_prefilled_with_the_proposed_value(payment: ApprovalRequest) -> None:
    element = input_block(valid_modal(edit_modal(payment)), "currency")["element"]

    assert element["type"] == "static_select"
    assert [option["text"]["text"] for option in element["options"]] == ["USD", "EUR", "GBP"]
    assert element["initial_option"]["text"]["text"] == "EUR"


def test_edit_modal_offers_a_boolean_as_a_true_false_select_prefilled(payment: ApprovalRequest) -> None:
    element = input_block(valid_modal(edit_modal(payment)), "notify")["element"]

    assert element["type"] == "static_select"
    assert [option["text"]["text"] for option in element["options"]] == ["true", "false"]
    assert element["initial_option"]["text"]["text"] == "true"


def test_edit_modal_asks_for_an_integer_with_a_whole_number_input(payment: ApprovalRequest) -> None:
    element = input_block(valid_modal(edit_modal(payment)), "amount")["element"]

    assert element["type"] == "number_input"
    assert element["is_decimal_allowed"] is False
    assert element["initial_value"] == "250"
    assert element["min_value"] == "1"


def test_edit_modal_asks_for_a_number_with_a_decimal_input(payment: ApprovalRequest) -> None:
    element = input_block(valid_modal(edit_modal(payment)), "rate")["element"]

    assert element["type"] == "number_input"
    assert element["is_decimal_allowed"] is True
    assert element["initial_value"] == "1.5"


def test_edit_modal_edits_a_nested_object_as_multiline_json(payment: ApprovalRequest) -> None:
    block = input_block(valid_modal(edit_modal(payment)), "address")

    assert block["element"]["type"] == "plain_text_input"
    assert block["element"]["multiline"] is True
    assert json.loads(block["element"]["initial_value"]) == {"city": "Paris", "zip": "75001"}
    assert block["label"]["text"] == "address (JSON)"


def test_edit_modal_prefills_a_string_as_text(payment: ApprovalRequest) -> None:
    element = input_block(valid_modal(edit_modal(payment)), "recipient")["element"]

    assert element["type"] == "plain_text_input"
    assert element["initial_value"] == "acme"


def test_edit_modal_makes_an_optional_anyof_null_property_optional(payment: ApprovalRequest) -> None:
    block = input_block(valid_modal(edit_modal(payment)), "memo")

    assert block["optional"] is True
    assert block["element"]["type"] == "plain_text_input"
    assert "initial_value" not in block["element"]


def test_edit_modal_makes_required_properties_required(payment: ApprovalRequest) -> None:
    view = valid_modal(edit_modal(payment))

    assert [input_block(view, name)["optional"] for name in PAYMENT_SCHEMA["required"]] == [False] * 6


def test_edit_modal_without_a_schema_infers_inputs_from_the_proposed_values() -> None:
    view = valid_modal(edit_modal(approval({"order_id": 42, "express": False, "note": "hi", "tags": ["a"]})))

    types = {name: input_block(view, name)["element"]["type"] for name in ("order_id", "express", "note", "tags")}
    assert types == {
        "order_id": "number_input",
        "express": "static_select",
        "note": "plain_text_input",
        "tags": "plain_text_input",
    }


def test_edit_modal_for_an_action_without_arguments_is_a_valid_modal() -> None:
    view = valid_modal(edit_modal(approval({})))

    assert [block["type"] for block in view["blocks"]] == ["context"]


def test_edit_modal_of_a_10000_character_argument_is_a_valid_modal() -> None:
    block = input_block(valid_modal(edit_modal(approval({"body": HUGE}))), "body")

    assert block["element"]["type"] == "plain_text_input"


def test_edit_modal_escapes_markup_characters_in_the_tool_name() -> None:
    view = valid_modal(edit_modal(approval(tool="a<b>&c")))

    assert "`a&lt;b&gt;&amp;c`" in view["blocks"][0]["elements"][0]["text"]


# --- parsing an Edit modal submission ------------------------------------------------------------


def test_valid_values_parse_to_the_types_of_the_schema(payment: ApprovalRequest) -> None:
    edited_args, errors = parse_edit_submission(payment, 0, valid_payment())

    assert errors == {}
    assert edited_args == {
        "currency": "USD",
        "amount": 300,
        "rate": 1.25,
        "notify": False,
        "address": {"city": "Lyon", "zip": "69001"},
        "recipient": "acme",
    }
    assert type(edited_args["amount"]) is int
    assert type(edited_args["rate"]) is float
    assert type(edited_args["notify"]) is bool
    assert type(edited_args["address"]) is dict


def test_a_non_numeric_amount_gets_an_inline_error_on_its_block(payment: ApprovalRequest) -> None:
    _, errors = parse_edit_submission(payment, 0, valid_payment(amount=number_input("twelve")))

    assert list(errors) == [BlockId.for_arg("amount")]


def test_a_fractional_amount_for_an_integer_gets_an_inline_error_on_its_block(payment: ApprovalRequest) -> None:
    _, errors = parse_edit_submission(payment, 0, valid_payment(amount=number_input("12.5")))

    assert list(errors) == [BlockId.for_arg("amount")]


def test_a_large_integer_keeps_every_digit(payment: ApprovalRequest) -> None:
    edited_args, errors = parse_edit_submission(payment, 0, valid_payment(amount=number_input("12345678901234567891")))

    assert errors == {}
    assert edited_args["amount"] == 12345678901234567891


def test_a_value_outside_the_enum_gets_an_error_on_its_block(payment: ApprovalRequest) -> None:
    _, errors = parse_edit_submission(payment, 0, valid_payment(currency=select("JPY")))

    assert list(errors) == [BlockId.for_arg("currency")]
    assert "JPY" in errors[BlockId.for_arg("currency")]


def test_a_value_below_the_minimum_gets_an_error_on_its_block(payment: ApprovalRequest) -> None:
    _, errors = parse_edit_submission(payment, 0, valid_payment(amount=number_input("0")))

    assert list(errors) == [BlockId.for_arg("amount")]


def test_invalid_json_for_a_nested_object_gets_an_error_on_its_block(payment: ApprovalRequest) -> None:
    _, errors = parse_edit_submission(payment, 0, valid_payment(address=text_input("{city: Lyon")))

    assert list(errors) == [BlockId.for_arg("address")]


def test_json_of_the_wrong_type_for_a_nested_object_gets_an_error_on_its_block(payment: ApprovalRequest) -> None:
    _, errors = parse_edit_submission(payment, 0, valid_payment(address=text_input("[1, 2]")))

    assert list(errors) == [BlockId.for_arg("address")]


def test_an_inline_error_is_kept_to_150_characters(payment: ApprovalRequest) -> None:
    _, errors = parse_edit_submission(payment, 0, valid_payment(currency=select("J" * 500)))

    assert errors and all(len(message) <= 150 for message in errors.values())


def test_edited_message_shows_an_argument_the_approver_cleared_as_removed() -> None:
    blocks = valid_message(request_message(edited({"order_id": "42", "note": "rush"}, {"order_id": "42"})))

    note = next(field for field in arg_fields(blocks) if field.startswith("*note*"))
    assert note == "*note* (edited)\nproposed `rush`\napproved _(removed)_"


# --- Deadlines, levels, App Home and settings surfaces ---------------------------------------


def test_pending_message_says_when_its_deadline_falls_and_what_then() -> None:
    gate = Gate(
        timeout=timedelta(minutes=15), on_timeout="escalate", escalation=[EscalationStage(channel="C0ONCALL", timeout="1h")]
    )
    pending = approval().model_copy(update={"gate": gate, "deadline_at": approval().created_at + timedelta(minutes=15)})

    blocks = valid_message(request_message(pending))

    assert any("Decide by <!date^" in text and "then it goes to <#C0ONCALL>" in text for text in texts(blocks))


def test_expired_message_says_so_and_offers_nothing() -> None:
    expired = approval(
        status=Status.EXPIRED, decision=Decision(type=DecisionType.REJECT, decided_by=DEADLINE_DECIDER, message="expired")
    )

    blocks = valid_message(request_message(expired))

    assert any("*Expired*" in text for text in texts(blocks))
    assert buttons(blocks) == {}


def test_escalated_message_says_where_it_went() -> None:
    escalated = approval().model_copy(update={"escalations": [Escalation(stage=1, channel="C0ONCALL", at=utcnow())]})

    assert any("Escalated to <#C0ONCALL>" in text for text in texts(valid_message(request_message(escalated))))


def test_confirm_modal_asks_for_confirm() -> None:
    view = valid_modal(confirm_modal(approval()))

    assert view["callback_id"] == CallbackId.CONFIRM_MODAL
    assert any(b.get("block_id") == BlockId.CONFIRM for b in view["blocks"])


def test_home_view_lists_waiting_requests_and_admin_settings() -> None:
    settings = [ScopedOverride(scope="payments.refund", override=Override(timeout="15m"), updated_by="U0ADMIN")]
    view = home_view([approval()] * 20, settings)

    assert View(**view).to_dict() == view
    assert len(view["blocks"]) <= 100
    assert "`payments.refund`: timeout 15m" in str(view["blocks"])


def test_home_view_offers_the_whole_arguments_beside_approve_only_when_it_cut_them() -> None:
    long = home_view([approval({"note": "x" * 1000})], None)
    short = home_view([approval()], None)

    assert View(**long).to_dict() == long
    [buttons] = [b for b in long["blocks"] if b["type"] == "actions"]
    actions = [e["action_id"] for e in buttons["elements"]]
    assert actions[0] == ActionId.APPROVE and ActionId.VIEW_ARGS in actions
    assert ActionId.VIEW_ARGS not in str(short["blocks"])


def test_settings_modal_prefills_what_is_set() -> None:
    view = valid_modal(settings_modal("payments.refund", Override(timeout="4h", on_timeout="reject", channel="C0X")))

    blocks = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert blocks[BlockId.SETTING_TIMEOUT]["initial_value"] == "4h"
    assert blocks[BlockId.SETTING_CHANNEL]["initial_conversation"] == "C0X"
    assert blocks[BlockId.SETTING_ON_TIMEOUT]["initial_option"]["value"] == "reject"


# --- the Answer modal and the question message ------------------------------------------------------


def question(args: dict[str, Any]) -> ApprovalRequest:
    """A pending question asked with `interrupt(...)`, declared `resume="text"`."""
    asked = approval(args, tool="interrupt")
    actions = [asked.action.model_copy(update={"allowed_decisions": [DecisionType.RESPOND], "description": ""})]
    return asked.model_copy(update={"kind": "interrupt:text", "actions": actions})


def test_question_message_offers_only_an_answer_button() -> None:
    blocks = valid_message(request_message(question({"question": "What is the ticket number?"})))

    assert list(buttons(blocks)) == [ActionId.ANSWER]
    assert "payments asks a question" in blocks[0]["text"]["text"]


def test_answer_modal_asks_the_question_with_a_required_text_answer() -> None:
    view = valid_modal(answer_modal(question({"question": "What is the ticket number? " + MARKUP})))

    (answer,) = [block for block in view["blocks"] if block["type"] == "input"]
    assert view["callback_id"] == CallbackId.ANSWER_MODAL
    assert answer["block_id"] == BlockId.ANSWER_TEXT and answer["element"]["min_length"] == 1
    assert "What is the ticket number?" in str(view["blocks"]) and "<!channel>" not in str(view["blocks"])


def test_answer_modal_offers_listed_options_in_a_select_and_reads_the_choice_back_as_written() -> None:
    long_option = "x" * 200
    asked = question({"question": "Which one?", "options": ["staging", long_option]})
    view = valid_modal(answer_modal(asked))

    (answer,) = [block for block in view["blocks"] if block["type"] == "input"]
    assert answer["block_id"] == BlockId.ANSWER_OPTION
    assert [o["value"] for o in answer["element"]["options"]] == ["0", "1"]
    picked = {BlockId.ANSWER_OPTION: {ActionId.ANSWER_OPTION: {"selected_option": {"value": "1"}}}}
    assert submitted_answer(asked.action, picked) == long_option


def test_answer_modal_reads_a_choice_that_is_not_an_option_as_no_answer() -> None:
    asked = question({"question": "Which one?", "options": ["staging", "production"]})

    for value in ("2", "-1", "²", "production"):
        picked = {BlockId.ANSWER_OPTION: {ActionId.ANSWER_OPTION: {"selected_option": {"value": value}}}}
        assert submitted_answer(asked.action, picked) == ""


def test_question_message_shows_the_question_and_its_options_and_the_deadline_answers_nothing() -> None:
    asked = question({"question": "Which environment?", "options": ["staging", "production"]})
    asked = asked.model_copy(update={"deadline_at": utcnow() + timedelta(hours=1)})

    blocks = valid_message(request_message(asked))

    shown = texts(blocks)
    assert "*Question:*\n>Which environment?" in shown
    assert any("*options*" in text for text in shown) and not any("*question*" in text for text in shown)
    assert any("then the run stops, unanswered." in text for text in shown)


def test_answered_question_says_who_answered_what() -> None:
    answer = Decision(type=DecisionType.RESPOND, decided_by="U0APPROVER", message="T-4821")
    asked = question({"question": "What is the ticket number?"})
    answered = asked.model_copy(
        update={"status": Status.DECIDED, "actions": [asked.action.model_copy(update={"decision": answer})]}
    )

    shown = texts(valid_message(request_message(answered)))

    assert any(text.startswith(":speech_balloon: *Answered* by <@U0APPROVER>") and ">T-4821" in text for text in shown)
    assert not [b for b in buttons(valid_message(request_message(answered)))]


def test_reject_modal_of_a_pause_whose_reject_stops_the_run_says_the_agent_does_not_read_the_reason() -> None:
    tutorial = approval().model_copy(update={"kind": "interrupt:approve_or_stop"})

    view = valid_modal(reject_modal(tutorial))

    assert "the run stops without resuming it" in str(view["blocks"])
    assert "it reads your reason" not in str(view["blocks"])


def test_a_request_asked_over_the_api_says_so_and_links_its_context() -> None:
    asked = approval().model_copy(update={"kind": "api", "link": "https://crm.example/tickets/42?a=1&b=2"})

    shown = "\n".join(texts(valid_message(request_message(asked))))

    assert "asked `payments` via the API:*" in shown
    assert "The customer was charged twice." in shown
    assert "<https://crm.example/tickets/42?a=1&amp;b=2|https://crm.example/tickets/42?a=1&amp;b=2>" in shown


def test_a_request_of_an_agent_run_does_not_say_via_the_api() -> None:
    shown = "\n".join(texts(valid_message(request_message(approval()))))

    assert "via the API" not in shown
    assert "*Context:*" not in shown


def test_a_context_link_that_is_not_a_plain_url_is_shown_as_text_not_as_a_link() -> None:
    asked = approval().model_copy(update={"kind": "api", "link": "javascript:alert(1)|<!channel>"})

    shown = "\n".join(texts(valid_message(request_message(asked))))

    assert "javascript:alert(1)|&lt;!channel&gt;" in shown
    assert "<!channel>" not in shown


def in_doubt(request: ApprovalRequest) -> ApprovalRequest:
    """The request about a call a worker's death cut off mid-way (worker.in_doubt)."""
    action = request.action.model_copy(update={"allowed_decisions": [DecisionType.APPROVE, DecisionType.REJECT]})
    return request.model_copy(update={"kind": IN_DOUBT_KIND, "actions": [action]})


def test_in_doubt_message_says_the_call_may_have_taken_effect_and_offers_run_it_again_or_dont() -> None:
    message = request_message(in_doubt(approval()))
    blocks = valid_message(message)

    offered = buttons(blocks)

    assert [button["text"]["text"] for button in offered.values()] == ["Run it again", "Don't"]
    assert list(offered) == [ActionId.APPROVE, ActionId.REJECT]
    assert "The worker stopped while `send_payment` ran; it may or may not have taken effect" in message["text"]
    assert any("same idempotency key" in text for text in texts(blocks))


def test_in_doubt_message_answered_says_whether_the_call_runs_again() -> None:
    assert "(not run again)" in request_message(in_doubt(rejected("It went through")))["text"]
    assert "(run again)" in request_message(in_doubt(approved()))["text"]
