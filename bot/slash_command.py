"""`/countersign`: start an agent run from Slack (`run <agent> <request>`), `help`, being away (`away`, `back`),
handing a request on (`handover`), and the admins' commands."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import ValidationError
from redis.exceptions import RedisError

from approvals.job_queue import JobQueue
from approvals.policies import PolicySet
from approvals.runs import RunRequest, start_run
from approvals.settings import Settings
from approvals.store import Store
from bot.admin_commands import ADMIN_USAGE, AdminCommands
from bot.away_command import AWAY_USAGE, PeopleCommands
from bot.formatting import escape, quote, shorten
from bot.user_groups import UserGroupDirectory

log = logging.getLogger(__name__)

USAGE = (
    "Usage: `/countersign run <agent> <request>` (e.g. `/countersign run payments Refund order #42 for $250`); "
    "`/countersign stop <run>` stops a run you asked for."
)
NOTIFY_USAGE = "• `/countersign notify on|off`: whether the runs you start tell you by DM of each decision and how they end"


@dataclass(eq=False)
class SlashCommand:
    """Parses a `/countersign` invocation and answers with what the ack should say."""

    store: Store
    queue: JobQueue
    settings: Settings
    admin: AdminCommands
    policies: PolicySet
    directory: UserGroupDirectory
    # Subcommands a listener module serves (`stop`), by name: each returns the ephemeral answer, as `handle` does.
    subcommands: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = field(default_factory=dict)

    def may_start(self, user: str, agent: str) -> bool:
        """Whether `user` may start `agent`: anyone, unless the policy names its starters."""
        starters = self.policies.starters(agent)
        return starters is None or user in starters or user in self.directory.members(starters)

    @cached_property
    def people(self) -> PeopleCommands:
        """`away`, `back` and `handover`, answered after the ack as the admins' are (they ask Slack who a person is)."""
        return PeopleCommands(self.store, self.admin.deciders, self.admin.client)

    @staticmethod
    def is_admin_command(command: dict[str, Any]) -> bool:
        """True for the subcommands answered after the ack (they may take a while): the admins', and `away`,
        `back` and `handover`."""
        words = str(command.get("text") or "").split(maxsplit=1)
        return bool(words) and words[0] in (*AdminCommands.NAMES, *PeopleCommands.NAMES)

    def admin_reply(self, command: dict[str, Any]) -> dict[str, Any]:
        """The ephemeral answer to an admin subcommand (sent with `respond()` after the ack)."""
        text = str(command.get("text") or "").strip()
        name = text.split(maxsplit=1)[0]
        user = str(command.get("user_id") or "")
        if name in PeopleCommands.NAMES:
            admin = name == "handover" and self.admin.is_admin(user)
            return _ephemeral(self.people.handle(name, text[len(name) :], user, admin=admin))
        if name == "stats" and self.admin.is_admin(user):
            # Figures and charts as Block Kit.
            return _ephemeral_message(self.admin.stats(text[len(name) :].strip(), channel=command.get("channel_id")))
        return _ephemeral(self.admin.handle(name, text[len(name) :], user))

    def after_reply(self, command: dict[str, Any]) -> None:
        """What follows a subcommand's answer: after `away`, the requests waiting on the person reach their delegate."""
        words = str(command.get("text") or "").split(maxsplit=1)
        if words and words[0] == "away":
            self.people.reach_stand_in(str(command.get("user_id") or ""))

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        """The ephemeral reply for a `/countersign` command that is answered in its ack (and, for `run`,
        the run, stored before the reply says it started)."""
        words = str(command.get("text") or "").strip().split(maxsplit=2)
        user = str(command.get("user_id") or "")
        if not words or words[0] == "help":
            usage = f"{USAGE}\n{AWAY_USAGE}\n{NOTIFY_USAGE}"
            return _ephemeral(f"{usage}\n\n{ADMIN_USAGE}" if self.admin.is_admin(user) else usage)
        if words[0] in self.subcommands:
            return self.subcommands[words[0]](command)
        if words[0] == "notify":
            return _ephemeral(self.notify(user, words[1:]))
        if words[0] != "run" or len(words) < 3:
            return _ephemeral(f"I did not understand `{escape(shorten(' '.join(words), 200))}`. {USAGE}")
        agent, request_text = words[1], words[2]
        try:
            known = self.queue.known_agents()
        except RedisError:
            known = set()  # a worker checks the name when it takes the run
        if known and agent not in known:
            return _ephemeral(f"There is no agent `{escape(agent)}`. Agents: {', '.join(sorted(known))}.")
        try:
            request = RunRequest(
                agent=agent,
                input_text=request_text,
                requested_by=command.get("user_id"),
                reply_channel=command.get("channel_id"),
            )
        except ValidationError:
            return _ephemeral(f"`{escape(shorten(agent, 100))}` is not an agent name. {USAGE}")
        if not self.may_start(user, agent):
            log.info("%s may not start %s; nothing was started", user, agent)
            return _ephemeral(f"You may not start `{escape(agent)}`: its policy names who may.")
        # Stored before the reply says so: from here the run is owed and a worker will take it.
        started = start_run(request, self.store, self.queue)
        where = f"Approval requests go to <#{self.settings.approvals_channel}>." if self.settings.approvals_channel else ""
        later = "" if started.handed_over else " The job queue is unreachable right now; it starts as soon as it is back."
        return _ephemeral(
            f"Started `{escape(agent)}` (run `{request.thread_id}`):\n{quote(request_text, 1000)}\n{where}{later}".rstrip()
        )

    def notify(self, user: str, args: list[str]) -> str:
        """`/countersign notify on|off`: say whether the runs `user` starts tell them by DM (audited)."""
        if args not in (["on"], ["off"]):
            told = self.store.people.get(user).told_of_runs
            return f"The runs you start {'tell' if told else 'do not tell'} you by DM. Usage: `/countersign notify on|off`."
        self.store.people.set_notify(user, args == ["on"])
        if args == ["on"]:
            return "The runs you start will tell you by DM of each decision and of how they end."
        return "The runs you start will no longer tell you by DM; their threads still say everything."


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def _ephemeral_message(message: dict[str, Any]) -> dict[str, Any]:
    return {"response_type": "ephemeral", **message}
