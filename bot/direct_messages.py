"""Direct messages: whom a request names (its rules' approvers, the members of their user groups, whoever stands in
for those of them who are away, and the people it was handed to), and sending a message to one person's DM with the
app. This module talks to Slack only and returns what it posted; the Slack front-end notes where (`bot.slack_places`).

A rule's `notify` says how its deciders are reached: `channel` (its channel's post, as always), `dm` (a DM to each
person it names; the channel gets a short line saying who was asked), or `both`. A rule without approvers is decided
by its channel's members: nobody to DM, so it is posted in the channel whatever its `notify` says.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from approvals.models import ApprovalRequest, Gate, Notify
from approvals.store.people import People
from bot.slack_places import Posted
from bot.user_groups import UserGroupDirectory

log = logging.getLogger(__name__)


def wants_dm(gate: Gate) -> bool:
    """Whether a call under `gate` is sent by DM: its rule says `dm` or `both`, and names someone to send it to."""
    return gate.notify != "channel" and bool(gate.approvers)


def notify_of(approval: ApprovalRequest) -> Notify:
    """How a request reaches its deciders: `dm` when every call's rule says `dm` (and names approvers), `channel`
    when none sends it by DM, `both` otherwise (a channel post must carry the calls nobody was sent by DM)."""
    gates = [approval.gate_of(position) for position in range(len(approval.actions))]
    wanting = [gate for gate in gates if wants_dm(gate)]
    if not wanting:
        return "channel"
    return "dm" if len(wanting) == len(gates) and all(gate.notify == "dm" for gate in gates) else "both"


class Reach(BaseModel):
    """What became of a request's DMs, as its channel post says: whom it was sent to, and who could not be reached
    (with Slack's reason). Noted with the channel post, so every redraw says the same."""

    notify: Notify
    asked: list[str] = Field(default_factory=list)
    unreached: dict[str, str] = Field(default_factory=dict)

    @property
    def brief(self) -> bool:
        """Whether the channel shows only a short line: `dm`, and everyone it names has the request by DM."""
        return self.notify == "dm" and bool(self.asked) and not self.unreached


class Named(BaseModel):
    """The people a request names, and the approver entries (user groups) whose members Slack would not list."""

    users: list[str] = Field(default_factory=list)
    unresolved: dict[str, str] = Field(default_factory=dict)


class DirectMessages:
    """Finds whom a request names and writes to people's DMs with the app (needs the `im:write` scope)."""

    def __init__(self, client: WebClient, user_groups: UserGroupDirectory, people: People) -> None:
        self.client = client
        self.user_groups = user_groups
        self.people = people

    def named(self, approval: ApprovalRequest, now: datetime | None = None) -> Named:
        """Whom the request's DMs go to: the approvers of each call whose rule wants DMs (not whoever proposed the
        call, unless the rule allows self-approval), those standing in for any of them who are away, and the people
        it was handed to."""
        users: set[str] = set()
        unresolved: dict[str, str] = {}
        for position in range(len(approval.actions)):
            gate = approval.gate_of(position)
            if not wants_dm(gate):
                continue
            named = {entry for entry in gate.approvers if not entry.startswith(("@", "S"))}
            for entry in gate.approvers:
                if entry.startswith(("@", "S")):
                    try:
                        named |= self.user_groups.members([entry])
                    except SlackApiError as error:
                        # Its members are not told by DM: the channel post carries the request for them.
                        unresolved[entry] = str(error.response.get("error"))
            if not gate.allow_self_approval:
                named -= approval.proposers_of(position)
            users |= named
        if users:
            users |= set(self.people.delegates(users, now).values())
            users |= set(approval.handed_to)
        return Named(users=sorted(users), unresolved=unresolved)

    def send(self, user: str, message: dict[str, Any], thread_ts: str | None = None) -> Posted:
        """Post `message` (`text`, `blocks`) in `user`'s DM with the app; raises Slack's refusal."""
        channel = str(self.client.conversations_open(users=user)["channel"]["id"])
        response = self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, unfurl_links=False, **message)
        return Posted(str(response["channel"]), str(response["ts"]))

    def send_each(self, users: Iterable[str], message: dict[str, Any]) -> tuple[dict[str, Posted], dict[str, str]]:
        """Send `message` to each of `users`: where it landed for each reached, and Slack's reason for each not
        (a deactivated account, a bot, an unknown id, a missing scope)."""
        reached: dict[str, Posted] = {}
        unreached: dict[str, str] = {}
        for user in users:
            try:
                reached[user] = self.send(user, message)
            except SlackApiError as error:
                unreached[user] = str(error.response.get("error"))
                log.info("could not reach %s by DM: %s", user, unreached[user])
        return reached, unreached

    def reply(self, posted: Posted, text: str) -> bool:
        """Reply in the thread of a DM'd message; False (logged) when Slack refuses."""
        try:
            self.client.chat_postMessage(channel=posted.channel, thread_ts=posted.ts, text=text, unfurl_links=False)
        except SlackApiError:
            log.warning("could not reply in DM %s", posted.channel, exc_info=True)
            return False
        return True
