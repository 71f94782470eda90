"""What Slack sends when someone uses an element of a message or view: the ``actions[0]`` of a
``block_actions`` payload, found from the element as the surface holds it."""

from __future__ import annotations

import time
from typing import Any

from sandbox.view_values import option


def view_of(view: Any) -> dict[str, Any]:
    """A view as a dict, from the view itself or from a recorded ``views.*`` call."""
    # Accept an emulator Call for views.open/push/update without importing it (import paths vary).
    response = getattr(view, "response", None)
    if isinstance(response, dict) and isinstance(response.get("view"), dict):
        return dict(response["view"])
    if not isinstance(view, dict):
        raise TypeError(f"expected a view dict or a recorded views.* Call, got {type(view).__name__}")
    return dict(view)


def element_action(
    surface: dict[str, Any] | None, action_id: str, value: Any, block_id: str | None, action_type: str | None
) -> dict[str, Any]:
    """The ``actions[0]`` Slack sends for using element ``action_id`` of ``surface`` with ``value``.

    A button sends its value (and text and style); a select or overflow menu the picked option
    (``value`` is the option's value); conversation, channel and user pickers the picked id;
    multi-selects and checkboxes their options (``value`` is a list); date and time pickers the
    picked date or time.
    """
    # Buttons sharing an action_id (one per request on the Home tab) differ by value.
    found_block_id, element = _find_element(surface, action_id, value) if isinstance(value, str) else (None, None)
    if element is None:
        found_block_id, element = _find_element(surface, action_id)
    kind = action_type or (element or {}).get("type") or "button"
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id or found_block_id or "b",
        "type": kind,
        "action_ts": f"{time.time():.6f}",
    }
    if kind == "button":
        action["text"] = (element or {}).get("text") or {"type": "plain_text", "text": action_id, "emoji": True}
        action["value"] = value
        if element and element.get("style"):
            action["style"] = element["style"]
    elif kind in ("static_select", "external_select", "overflow", "radio_buttons"):
        action["selected_option"] = None if value is None else _picked(element, str(value))
    elif kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        action["selected_options"] = [_picked(element, str(v)) for v in value or []]
    elif kind in _PICKED_ID:
        action[_PICKED_ID[kind]] = value
    else:
        action["value"] = value
    return action


# What a picker of ids sends, by element type.
_PICKED_ID = {
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "users_select": "selected_user",
    "multi_conversations_select": "selected_conversations",
    "multi_channels_select": "selected_channels",
    "multi_users_select": "selected_users",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
}


def _picked(element: dict[str, Any] | None, value: str) -> dict[str, Any]:
    """The option with ``value`` as the element lists it (its text too), else one made up."""
    element = element or {}
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return next((dict(o) for o in options if o.get("value") == value), None) or option(value)


def _find_element(
    message: dict[str, Any] | None, action_id: str, value: str | None = None
) -> tuple[str | None, dict[str, Any] | None]:
    """(block_id, element) of interactive element ``action_id`` (with ``value``, if given) in ``message``'s blocks."""
    for block in (message or {}).get("blocks") or []:
        candidates = list(block.get("elements") or [])
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                candidates.append(block[key])
        for element in candidates:
            if (
                isinstance(element, dict)
                and element.get("action_id") == action_id
                and (value is None or element.get("value") == value)
            ):
                return block.get("block_id"), element
    return None, None
