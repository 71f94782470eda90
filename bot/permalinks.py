"""Links to the messages Countersign posts: Slack is asked once for each channel, and a later top-level message of
that channel gets its link the way Slack made that one (`https://<workspace>.slack.com/archives/<channel>/p<ts>`),
which saves a Slack call for each request posted there. A reply in a thread is always asked for (Slack adds the
thread to its link), and so is every message of a channel whose link did not have that form."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack_places import Posted

log = logging.getLogger(__name__)


def _tail(posted: Posted) -> str:
    return f"{posted.channel}/p{posted.ts.replace('.', '')}"


class Permalinks:
    """The links of one Slack client's messages, with what each channel's first link showed of their form."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        # channel -> its links' part before the message's own (`https://x.slack.com/archives/`)
        self._prefixes: dict[str, str] = {}

    def of(self, posted: Posted, *, reply: bool) -> str | None:
        """The link to a posted message, `reply` in a thread or not (None when Slack will not say; lists then show
        it unlinked)."""
        prefix = None if reply else self._prefixes.get(posted.channel)
        if prefix is not None:
            return prefix + _tail(posted)
        try:
            link = str(self.client.chat_getPermalink(channel=posted.channel, message_ts=posted.ts)["permalink"])
        except SlackApiError:
            log.warning("no permalink for message %s in %s", posted.ts, posted.channel)
            return None
        if not reply and link.endswith("/archives/" + _tail(posted)):
            self._prefixes[posted.channel] = link.removesuffix(_tail(posted))
        return link
