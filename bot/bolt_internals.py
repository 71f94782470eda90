"""Every part of Slack Bolt we use that Bolt does not publish as API, in one place.

Written against slack-bolt 1.30.0 (constraints.txt). An internal may change in any release, so
`tests/test_framework_pins.py` fails when the installed slack-bolt is another version: whoever moves
the pin reads the internals below again in the new release, then moves `SLACK_BOLT_VERSION`.
"""

from __future__ import annotations

# `bot.server` builds a BoltRequest around a body it has already parsed (`bot.inbound.parse`), so that a
# click's URL-encoded form is not parsed a second time and a slash command saying "payload" is not read
# as an interactive payload. BoltRequest's constructor sets `context` from the body it parses itself;
# handed an empty body, the request needs the same context built from the parsed one, which is what
# this function does (`slack_bolt.request.internals.build_context(context, body) -> BoltContext`,
# filling in the team, enterprise, user, channel and thread ids and the function execution fields).
from slack_bolt.request.internals import build_context

SLACK_BOLT_VERSION = "1.30.0"

__all__ = ["SLACK_BOLT_VERSION", "build_context"]
