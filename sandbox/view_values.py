"""The values a modal's inputs hold in ``view.state``, as Slack sends them on submission."""

from __future__ import annotations

from typing import Any

__all__ = ["checkboxes_value", "number_value", "option", "plain_text_value", "static_select_value", "users_select_value"]


def plain_text_value(text: str | None) -> dict[str, Any]:
    """State value of a ``plain_text_input``."""
    return {"type": "plain_text_input", "value": text}


def number_value(text: str | None) -> dict[str, Any]:
    """State value of a ``number_input`` (Slack sends the number as a string)."""
    return {"type": "number_input", "value": text}


def option(value: str, text: str | None = None) -> dict[str, Any]:
    """An option of a select or of checkboxes, as Slack sends it (its text defaults to the value)."""
    return {"text": {"type": "plain_text", "text": text or value, "emoji": True}, "value": value}


def static_select_value(value: str | None, text: str | None = None) -> dict[str, Any]:
    """State value of a ``static_select``; ``value=None`` means nothing selected."""
    return {"type": "static_select", "selected_option": None if value is None else option(value, text)}


def checkboxes_value(values: list[str] | list[tuple[str, str]]) -> dict[str, Any]:
    """State value of ``checkboxes``: a list of values, or of ``(value, text)`` pairs."""
    options = [option(v) if isinstance(v, str) else option(v[0], v[1]) for v in values]
    return {"type": "checkboxes", "selected_options": options}


def users_select_value(user_id: str | None) -> dict[str, Any]:
    """State value of a ``users_select``; ``user_id=None`` means nobody picked."""
    return {"type": "users_select", "selected_user": user_id}
