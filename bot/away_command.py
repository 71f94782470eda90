"""`/countersign away @colleague [until <date>]`, `/countersign back` and `/countersign handover <request> @person`:
whom a person's requests also go to while they are away, and handing one request to someone else.

People arrive escaped, as Slack sends them when the slash command has `should_escape: true` (`<@U123|name>`).
A date means until the end of that day, UTC; an ISO date and time (UTC unless it says otherwise) is taken as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from approvals.deciding import Deciding
from approvals.errors import CountersignError, HandoverRefused
from approvals.store import Store
from bot.explain import explain
from bot.formatting import escape, mention, shorten

AWAY_USAGE = (
    "• `/countersign away @colleague [until 2026-12-24]`: while you are away, your colleague can decide the requests "
    "that name you (until the end of that day, UTC; or until `/countersign back`)\n"
    "• `/countersign back`: requests that name you are yours alone again\n"
    "• `/countersign handover <request id> @person`: ask someone else to decide one request "
    "(as the ⋯ menu's “Ask someone else…” does; admins may on any request)"
)

_PERSON = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
# Slack's own bot, which users.info does not call a bot.
SLACKBOT = "USLACKBOT"


class NotAPerson(ValueError):
    """A mention or pick that names no person who could decide requests; the message says why."""


def check_person(client: WebClient, user_id: str) -> None:
    """Raise `NotAPerson` unless `user_id` is an active person of the workspace (not an app, not deactivated)."""
    if user_id == SLACKBOT:
        raise NotAPerson(f"{mention(user_id)} is an app, not a person.")
    try:
        user = client.users_info(user=user_id)["user"]
    except SlackApiError as error:
        if error.response.get("error") in ("user_not_found", "users_not_found"):
            raise NotAPerson(f"{mention(user_id)} is not a member of this workspace.") from None
        raise
    if user.get("is_bot") or user.get("is_app_user"):
        raise NotAPerson(f"{mention(user_id)} is an app, not a person.")
    if user.get("deleted"):
        raise NotAPerson(f"{mention(user_id)} is deactivated.")


def parse_until(text: str, now: datetime) -> datetime:
    """When an absence given as `2026-12-24` (the end of that day, UTC) or an ISO date and time ends; `ValueError`
    for anything else, or a moment already past."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            said = escape(shorten(text, 60))
            raise ValueError(f"`{said}` is not a date: write it as 2026-12-24, or 2026-12-24T17:00 (UTC).") from None
        until = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    else:
        until = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
    if until <= now:
        raise ValueError(f"{escape(text)} has passed: say until when you will be away.")
    return until


def until_words(until: datetime, now: datetime) -> str:
    """An absence's end as people say it: `24 Dec` (the day it ends with), or `24 Dec 17:00 UTC`."""
    end_of_day = until.time() == time(0)
    shown = until - timedelta(days=1) if end_of_day else until
    words = f"{shown.day} {shown:%b}" + ("" if shown.year == now.year else f" {shown.year}")
    return words if end_of_day else f"{words} {shown:%H:%M} UTC"


@dataclass(eq=False)
class PeopleCommands:
    """`away`, `back` and `handover`: each returns the ephemeral reply."""

    NAMES = ("away", "back", "handover")

    store: Store
    deciding: Deciding
    client: WebClient

    def handle(self, name: str, args: str, user_id: str, *, admin: bool) -> str:
        """Run one of these subcommands for `user_id` (`admin`: an admin of Countersign)."""
        if name == "back":
            return self.back(user_id)
        try:
            return self.away(args, user_id) if name == "away" else self.handover(args, user_id, admin=admin)
        except (ValueError, NotAPerson) as error:
            return str(error)
        except CountersignError as error:
            return explain(error)

    def away(self, args: str, user_id: str) -> str:
        """Name a delegate until a moment (or until `back`)."""
        words = args.split()
        if not words:
            raise ValueError("Say who decides for you while you are away: `/countersign away @colleague until 2026-12-24`.")
        delegate = _person(words[0])
        if delegate == user_id:
            raise ValueError("You cannot stand in for yourself: name a colleague.")
        now = self.deciding.clock()
        until = None
        if len(words) == 3 and words[1].lower() == "until":
            until = parse_until(words[2], now)
        elif len(words) != 1:
            raise ValueError("Usage: `/countersign away @colleague [until 2026-12-24]`.")
        check_person(self.client, delegate)
        self.store.people.set_away(user_id, delegate, until)
        since = f"Until {until_words(until, now)}" if until else "Until you say `/countersign back`"
        return f"{since}, {mention(delegate)} can decide requests that name you."

    def reach_stand_in(self, user_id: str) -> int:
        """After `away`: each pending request that waits on `user_id` reaches whoever stands in for them now, as it
        would had they been named when it was asked (by DM, where its rule says so); how many wait on them."""
        delegate = self.store.people.get(user_id).delegate_at(self.deciding.clock())
        return 0 if delegate is None else self.deciding.announce_stand_in(user_id, delegate)

    def back(self, user_id: str) -> str:
        """Nobody stands in for `user_id` any more."""
        if not self.store.people.set_back(user_id):
            return "You were not away: nobody stands in for you."
        return "Welcome back: requests that name you are yours alone again."

    def handover(self, args: str, user_id: str, *, admin: bool) -> str:
        """Hand one request to someone else, as "Ask someone else…" does."""
        words = args.split()
        if len(words) != 2:
            raise ValueError("Usage: `/countersign handover <request id> @person` (the request id is under its message).")
        approval = self.store.requests.get(words[0])
        to = _person(words[1])
        try:
            check_person(self.client, to)
        except NotAPerson as error:
            raise HandoverRefused(approval, "not_a_person", to) from error
        self.deciding.hand_to(approval, to, user_id, admin=admin)
        self.deciding.announce_handover(approval.id, to, user_id)
        return f"Asked {mention(to)} to decide request `{approval.id}`: they can decide it now, as its approvers can."


def _person(word: str) -> str:
    """The user a mention names; `ValueError` for anything that is not one person."""
    found = _PERSON.match(word)
    if found is None:
        raise ValueError(
            f"I could not tell who `{escape(shorten(word, 60))}` is: pick one person from the @ list "
            "(`/countersign away @colleague until 2026-12-24`)."
        )
    return found[1]
