"""Long argument values are shortened in the message and shown whole on request."""

from __future__ import annotations

from bot.ids import ActionId
from tests.local import Local

LONG_REQUEST = "Refund order #130 for $250. " + "The customer explains at length why. " * 20


def test_long_argument_is_shortened_in_the_message_with_a_button_to_see_it_whole(local: Local) -> None:
    approval = local.start_run(LONG_REQUEST)

    blocks = local.message(approval)["blocks"]

    fields = [field["text"] for block in blocks for field in block.get("fields", [])]
    reason = next(text for text in fields if text.startswith("*reason*"))
    assert reason.endswith("…`") and len(reason) < 400
    assert ActionId.VIEW_ARGS in str(blocks)


def test_view_full_arguments_opens_a_modal_with_the_whole_value(local: Local) -> None:
    approval = local.start_run(LONG_REQUEST)

    view = local.open_modal("U0APPROVER", ActionId.VIEW_ARGS, approval).params["view"]

    shown = "".join(block["text"]["text"] for block in view["blocks"] if block["type"] == "section")
    assert LONG_REQUEST.strip() in shown.replace("```", "")
    assert local.store.requests.get(approval.id).is_pending
