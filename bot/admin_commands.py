"""`/countersign` for admins: `timeout`, `escalation`, `pending`, `settings`, `stats`. Anyone else is refused.

Channels, users and user groups arrive escaped, as Slack sends them when the slash command has
`should_escape: true` (`<#C123|name>`, `<@U123>`, `<!subteam^S123|@handle>`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from slack_sdk import WebClient

from approvals.admin_settings import SCOPE, AdminSettings, Override
from approvals.deciding import Deciding
from approvals.expressions import Expression
from approvals.models import EscalationStage, format_duration, parse_duration
from approvals.policies import PolicySet
from approvals.stats import DEFAULT_WINDOWS, approval_stats
from approvals.store import Store
from bot.formatting import approver, escape, slack_date
from bot.slack_places import SlackPlaces
from bot.stats_view import stats_message
from bot.user_groups import UserGroupDirectory

ADMIN_USAGE = (
    "*Admin commands*\n"
    "• `/countersign timeout <agent>[.<tool>] <duration> [reject|approve|escalate]`: deadline of new requests, "
    "e.g. `timeout payments.refund 15m`\n"
    "• `/countersign escalation <agent>[.<tool>] <#channel> <duration> [@group] [; <#channel> <duration> [@group]]…`: "
    "escalate at the deadline through these stages; `escalation <scope> off` stops escalating\n"
    "• `/countersign pending [page]`: requests waiting for your decision, 20 a page\n"
    "• `/countersign settings`: the rules in force\n"
    "• `/countersign stats [<agent>[.<tool>]] [7d|30d]`: approval figures and flags per checkpoint (default 7d)"
)

# Requests per reply of `/countersign pending` (each a line; a reply stays short enough to read).
PENDING_PAGE = 20

_CHANNEL = re.compile(r"^<#(C[A-Z0-9]+)(?:\|[^>]*)?>$|^(C[A-Z0-9]{2,})$")
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$|^<!subteam\^(S[A-Z0-9]+)(?:\|[^>]*)?>$|^(@[a-z0-9._-]+)$")


class UsageError(ValueError):
    """Bad arguments; the message is shown with the usage line."""


@dataclass(eq=False)
class AdminCommands:
    """Admin subcommands of `/countersign`: each returns the ephemeral reply."""

    NAMES = ("timeout", "escalation", "pending", "settings", "stats")
    # A page number past this is a typo (a million pending requests would be a bigger problem).
    MAX_PENDING_PAGE = 10_000
    # The longest window `stats` counts over.
    MAX_STATS_WINDOW = timedelta(days=366)

    admins: list[str]
    store: Store
    admin_settings: AdminSettings
    policies: PolicySet
    client: WebClient
    directory: UserGroupDirectory
    deciders: Deciding

    @property
    def places(self) -> SlackPlaces:
        """Where Slack shows the requests the lists link to."""
        return SlackPlaces(self.store)

    def is_admin(self, user_id: str) -> bool:
        """True for the admins in COUNTERSIGN_ADMINS (directly or through a user group)."""
        return user_id in self.admins or user_id in self.directory.members(self.admins)

    def handle(self, name: str, args: str, user_id: str) -> str:
        """Run one admin subcommand for `user_id`; a refusal or a usage line when it cannot."""
        if not self.is_admin(user_id):
            return f"Only Countersign's admins may use `/countersign {name}`. Ask one of: {self._admin_names()}."
        subcommand: Callable[[list[str], str], str] = getattr(self, f"_{name}")
        try:
            return subcommand(args.split(), user_id)
        except UsageError as error:
            return f"{error}\n{ADMIN_USAGE}"

    def _admin_names(self) -> str:
        return ", ".join(approver(a) for a in self.admins) or "nobody (set COUNTERSIGN_ADMINS)"

    @staticmethod
    def _scope(word: str) -> str:
        if not SCOPE.match(word):
            raise UsageError(f"`{escape(word)}` is not an agent or agent.tool.")
        return word

    def _timeout(self, words: list[str], user_id: str) -> str:
        if len(words) not in (2, 3):
            raise UsageError("`timeout` takes a scope, a duration and, optionally, what happens at the deadline.")
        scope = self._scope(words[0])
        try:
            timeout = parse_duration(words[1])
        except ValueError as error:
            raise UsageError(str(error)) from None
        changes: dict[str, Any] = {"timeout": timeout}
        if len(words) == 3:
            if words[2] not in ("reject", "approve", "escalate"):
                raise UsageError(f"`{escape(words[2])}` is not reject, approve or escalate.")
            if words[2] == "escalate" and not self.admin_settings.get(scope).escalation:
                raise UsageError(f"`{scope}` has no escalation stages yet; set them with `escalation` first.")
            changes["on_timeout"] = words[2]
        reply = self._change(scope, user_id, changes)
        if changes.get("on_timeout") == "approve":
            reply += " Calls under hard or manual rules still fail closed: they are rejected at the deadline."
        return reply

    def _escalation(self, words: list[str], user_id: str) -> str:
        if len(words) < 2:
            raise UsageError("`escalation` takes a scope and at least one stage, or `off`.")
        scope = self._scope(words[0])
        if words[1:] == ["off"]:
            return self._change(scope, user_id, {"escalation": [], "on_timeout": "reject"})
        stages = []
        for part in " ".join(words[1:]).split(";"):
            stage = part.split()
            if len(stage) not in (2, 3):
                raise UsageError(f"`{escape(part.strip())}` is not `<#channel> <duration> [@group]`.")
            channel = _CHANNEL.match(stage[0])
            if not channel:
                raise UsageError(f"`{escape(stage[0])}` is not a channel; pick one with #.")
            mention = None
            if len(stage) == 3:
                found = _MENTION.match(stage[2])
                if not found:
                    raise UsageError(f"`{escape(stage[2])}` is not a user or a user group.")
                mention = next(group for group in found.groups() if group)
            try:
                stages.append(EscalationStage(channel=channel[1] or channel[2], timeout=stage[1], mention=mention))
            except ValidationError as error:
                raise UsageError(error.errors()[0]["msg"].removeprefix("Value error, ")) from None
        return self._change(scope, user_id, {"escalation": stages, "on_timeout": "escalate"})

    def _change(self, scope: str, user_id: str, changes: dict[str, Any]) -> str:
        before, after = self.admin_settings.change(scope, user_id, **changes)
        return changed_text(scope, before, after)

    def stats(self, args: str, channel: str | None = None) -> dict[str, Any]:
        """The reply to `/countersign stats [scope] [window]` (the caller checked the user is an admin):
        the figures as Block Kit, or the usage line."""
        try:
            scope, window = self._stats_args(args.split())
        except UsageError as error:
            return {"text": f"{error}\n{ADMIN_USAGE}"}
        return stats_message(approval_stats(self.store.db.engine, window, scope), channel=channel)

    def _stats_args(self, words: list[str]) -> tuple[str | None, timedelta]:
        scope, window = None, DEFAULT_WINDOWS[0]
        for word in words:
            try:
                window = parse_duration(word)
            except ValueError:
                if scope is not None:
                    raise UsageError("`stats` takes at most an agent[.tool] and a window like 7d or 30d.") from None
                scope = self._scope(word)
                continue
            if not timedelta(0) < window <= self.MAX_STATS_WINDOW:
                raise UsageError(f"`{escape(word)}` is not a window between 1s and {self.MAX_STATS_WINDOW.days}d.")
        return scope, window

    def _stats(self, words: list[str], user_id: str) -> str:
        return str(self.stats(" ".join(words))["text"])

    def _pending(self, words: list[str], user_id: str) -> str:
        if len(words) > 1 or (words and not (words[0].isdigit() and 0 < int(words[0]) <= self.MAX_PENDING_PAGE)):
            raise UsageError("`pending` takes at most a page number, e.g. `pending 2`.")
        number = int(words[0]) if words else 1
        # The requests this admin may decide, as on their Home tab: being an admin shows no one else's.
        pending, total, capped = self.deciders.pending_for(user_id, PENDING_PAGE, (number - 1) * PENDING_PAGE)
        if not pending:
            return "Nothing is waiting for your decision." if total == 0 else f"There are only {total} requests waiting."
        lines = []
        links = self.places.permalinks([approval.id for approval in pending])
        for approval in pending:
            tools = ", ".join(f"`{escape(a.tool)}`" for a in approval.actions)
            what = f"{escape(approval.run.agent)}: {tools}"
            due = f", due {slack_date(approval.deadline_at)}" if approval.deadline_at else ""
            # The link noted when the request was posted (no Slack call per line here).
            link = links.get(approval.id)
            lines.append(f"• <{link}|{what}>{due}" if link else f"• {what}{due}")
        after = total - (number - 1) * PENDING_PAGE - len(pending)
        if after > 0:
            more = f"{after}+" if capped else str(after)
            lines.append(f"…and {more} more: `/countersign pending {number + 1}` lists the next {min(after, PENDING_PAGE)}.")
        heading = "*Waiting for a decision:*" if number == 1 else f"*Waiting for a decision (page {number}):*"
        return heading + "\n" + "\n".join(lines)

    def _settings(self, words: list[str], user_id: str) -> str:
        lines = ["*Policy rules* (first match wins):"]
        for n, rule in enumerate(self.policies.rules, start=1):
            when = f" when `{rule.when.source}`" if isinstance(rule.when, Expression) else (" when (Python)" if rule.when else "")
            who = ", ".join(approver(a) for a in rule.approvers) or "anyone"
            timeout = format_duration(rule.timeout) if rule.timeout else "default"
            # What actually happens at the deadline (a soft rule without on_timeout goes ahead, others reject).
            then = rule.gate().on_timeout
            lines.append(
                f"{n}. *{escape(rule.label)}*: `{escape(rule.agent)}.{escape(rule.tool)}`{when}: {rule.level.value}, "
                f"{who}, timeout {timeout} then {then}"
            )
        if not self.policies.rules:
            lines.append("_None: every gated call needs a human._")
        lines.append("*Set in Slack* (on top of the rules):")
        for scoped in self.admin_settings.all():
            lines.append(
                f"• `{scoped.scope}`: {describe(scoped.override)}, "
                f"by {approver(scoped.updated_by)} {slack_date(scoped.updated_at)}"
            )
        if len(lines) and lines[-1].startswith("*Set in Slack*"):
            lines.append("_Nothing yet._")
        return "\n".join(lines)


def scope_text(scope: str) -> str:
    """A scope as people read it: `payments`, `payments.refund`, or the calls one rule of a tool governs."""
    calls, _, rule = scope.partition("#")
    return f"`{escape(calls)}` calls under rule *{escape(rule)}*" if rule else f"`{escape(calls)}`"


def changed_text(scope: str, before: Override, after: Override) -> str:
    """What an admin is told after changing a scope's settings."""
    return f"{scope_text(scope)} now: {describe(after)} (was: {describe(before)}). New requests follow it at once."


def describe(override: Override) -> str:
    """One line saying what an override sets."""
    parts = []
    if override.level is not None:
        parts.append(f"level {override.level.value}")
    if override.timeout is not None:
        parts.append(f"timeout {format_duration(override.timeout)}")
    if override.on_timeout is not None:
        parts.append(f"then {override.on_timeout}")
    for n, stage in enumerate(override.escalation or [], start=1):
        who = f" ({approver(stage.mention)})" if stage.mention else ""
        parts.append(f"stage {n}: <#{stage.channel}>{who} for {format_duration(stage.timeout)}")
    if override.channel:
        parts.append(f"channel <#{override.channel}>")
    return ", ".join(parts) or "policy defaults"
