"""Small text helpers for Slack mrkdwn: escaping, shortening, dates in each viewer's time zone."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

ELLIPSIS = "…"


# C0 control characters (but tab and newline) and DEL shown as Unicode's control pictures (U+2400...),
# so a NUL or a bell in an argument is seen, not swallowed or acted on.
_SURROGATE = re.compile("[\ud800-\udfff]")
_VISIBLE = {code: 0x2400 + code for code in range(0x20) if chr(code) not in "\t\n"} | {0x7F: 0x2421}


# Bidirectional controls can make an argument read backwards ("refund 0005$" shown as "$5000"), so
# they are named instead of applied.
_BIDI = {code: f"[U+{code:04X}]" for code in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_SHOWN = _VISIBLE | _BIDI


def visible(text: str) -> str:
    """`text` with control characters shown as symbols, bidirectional controls named, and lone surrogates
    as U+FFFD (Slack can't carry them)."""
    return _SURROGATE.sub("\ufffd", text.translate(_SHOWN))


def escape(text: str) -> str:
    """Text from agents, tools and people made safe for Slack's mrkdwn: `&`, `<` and `>` escaped (so nothing
    in it can mention, link or spoof), control characters shown visibly."""
    return visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: str, limit: int) -> str:
    """`text`, cut to at most `limit` characters with an ellipsis when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def as_text(value: Any) -> str:
    """An argument value as an approver reads it: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def as_code(value: Any, limit: int) -> tuple[str, bool]:
    """An argument value as inline mrkdwn code, shortened to `limit`; also says whether it was cut."""
    text = as_text(value)
    short = shorten(text, limit)
    body = escape(short)
    if "`" in body or "\n" in body:
        return body, short != text
    return f"`{body}`", short != text


def shorten_escaped(text: str, limit: int) -> str:
    """Already-escaped `text`, cut like `shorten` but never inside an `&amp;`-style entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    entity = cut.rfind("&")
    if entity != -1 and ";" not in cut[entity:]:
        cut = cut[:entity]
    return cut + ELLIPSIS


def quote(text: str, limit: int) -> str:
    """`text` as an escaped mrkdwn block quote of at most `limit` characters, markup included.

    Escaping and the `>` of each line lengthen the text, so the limit applies to the result.
    """
    quoted = "\n".join(f">{line}" for line in escape(text).splitlines() or [">"])
    return shorten_escaped(quoted, limit)


def slack_date(moment: datetime) -> str:
    """A date Slack renders in the viewer's own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def mention(user_id: str | None) -> str:
    """A user mention, or a plain word when nobody is known."""
    return f"<@{user_id}>" if user_id else "someone"


def approver(entry: str) -> str:
    """An approver from a policy as Slack shows it: a user or user-group mention, or the @handle."""
    if entry.startswith("S"):
        return f"<!subteam^{entry}>"
    return escape(entry) if entry.startswith("@") else mention(entry)
