"""Approval policies: which tool calls need which humans, from a YAML file or the same rules in Python.

Rules are checked in order and the first whose agent, tool (shell-style wildcards) and `when`
condition match decides, on the arguments as the tool will receive them. A call no rule matches
gets `hard`, never `auto`; a condition that cannot be evaluated never lets a call through with less
than the strictest rule it might fall under.
"""

from __future__ import annotations

import fnmatch
import importlib
import logging
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from approvals.expressions import Expression, ExpressionError, MissingArgument
from approvals.models import Duration, EscalationStage, FinalTimeoutAction, Gate, Level, Notify, Remember, TimeoutAction
from approvals.tool_arguments import as_received

log = logging.getLogger(__name__)


# Slack user ids (U…/W…), user-group ids (S…) or user-group handles (@handle).
Approver = Annotated[str, Field(pattern=r"^([UWS][A-Z0-9]{2,}|@[a-z0-9][a-z0-9._-]*)$")]
Condition = Callable[[Mapping[str, Any]], bool]


class Rule(BaseModel):
    """One policy rule: which calls it covers and what they need."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str | None = None
    agent: str = "*"
    tool: str = "*"
    when: Expression | Condition | None = None
    level: Level = Level.HARD
    approvers: list[Approver] = Field(default_factory=list)
    channel: str | None = None
    allow_self_approval: bool = False
    quorum: int = Field(1, ge=1, le=20)
    # Deadline fields, accepted now and acted on by the deadlines feature.
    # Deadlines: without a timeout, the default (COUNTERSIGN_DEFAULT_TIMEOUT) applies.
    timeout: Duration | None = None
    # Unset: a soft rule's calls go ahead at the deadline (that is what soft means); others fail closed.
    on_timeout: TimeoutAction | None = None
    escalation: list[EscalationStage] = Field(default_factory=list)
    final_on_timeout: FinalTimeoutAction = "reject"
    reminders: list[Duration] = Field(default_factory=list)
    # How its deciders are reached: the channel post (as always), a DM to each approver it names, or both.
    notify: Notify = "channel"
    # Whether an approval may cover the run's later calls of the same tool under this rule (`run`, or a
    # duration such as `30m`); never for `manual` or quorum rules, whose calls each need their own people.
    remember: Remember = "off"
    # Whether an approver may hand one request to someone else; admins always may.
    allow_handover: bool = False

    @field_validator("when", mode="before")
    @classmethod
    def _condition(cls, value: Any) -> Any:
        if value is None or isinstance(value, Expression):
            return value
        if isinstance(value, str):
            try:
                return Expression(value)
            except ExpressionError as error:
                raise ValueError(str(error)) from None
        if callable(value):
            return value
        raise ValueError("must be an expression (text) or, in Python, a callable taking the arguments")

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.quorum > 1 and self.level is not Level.MANUAL:
            raise ValueError("quorum is only for level manual")
        approves = self.on_timeout == "approve" or (self.on_timeout == "escalate" and self.final_on_timeout == "approve")
        if approves and self.level in (Level.HARD, Level.MANUAL):
            raise ValueError(f"on_timeout approve is not allowed for level {self.level.value} (fail closed)")
        if self.on_timeout == "escalate" and not self.escalation:
            raise ValueError("on_timeout escalate needs escalation stages")
        if self.remember != "off" and (self.level is Level.MANUAL or self.quorum > 1):
            raise ValueError("remember is not allowed for level manual or a quorum: each call needs its own decision")
        return self

    @property
    def label(self) -> str:
        """How errors and messages name this rule."""
        return self.name or f"{self.agent}.{self.tool}"

    def covers(self, agent: str, tool: str) -> bool:
        """True when the rule's agent and tool patterns match the call."""
        return fnmatch.fnmatchcase(agent, self.agent) and fnmatch.fnmatchcase(tool, self.tool)

    def gate(self, default_timeout: timedelta = timedelta(hours=24)) -> Gate:
        """What this rule asks of a request it governs."""
        return Gate(
            rule=self.label,
            level=self.level,
            approvers=list(self.approvers),
            allow_self_approval=self.allow_self_approval,
            quorum=self.quorum,
            channel=self.channel,
            timeout=self.timeout or default_timeout,
            on_timeout=self.on_timeout or ("approve" if self.level is Level.SOFT else "reject"),
            escalation=list(self.escalation),
            final_on_timeout=self.final_on_timeout,
            reminders=list(self.reminders),
            notify=self.notify,
            remember=self.remember,
            allow_handover=self.allow_handover,
        )

    def condition_holds(self, args: Mapping[str, Any]) -> bool:
        """Whether `when` holds for the call's arguments (True without a condition)."""
        if self.when is None:
            return True
        if isinstance(self.when, Expression):
            return self.when.evaluate(args)
        return bool(self.when(args))


# What a call gets when no rule covers it, or a rule's condition cannot be answered: a human.
FAIL_CLOSED = Rule(name="default (no rule matched)", level=Level.HARD)


class AgentAccess(BaseModel):
    """Who may start one agent from Slack (`agents: {name: {starters: [...]}}` in the policy file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # User ids and user groups; unset: anyone in the workspace, an empty list: nobody.
    starters: list[Approver] | None = None


class PolicySet(BaseModel):
    """An ordered list of rules; the first that matches a call decides. Beside them, per agent (by name,
    or `*` for the others), who may start it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[Rule] = Field(default_factory=list)
    agents: dict[str, AgentAccess] = Field(default_factory=dict)

    def starters(self, agent: str) -> list[str] | None:
        """Who may start `agent` from Slack (user ids and user groups); None: anyone in the workspace."""
        for name in (agent, "*"):
            access = self.agents.get(name)
            if access is not None and access.starters is not None:
                return list(access.starters)
        return None

    def rule_for(self, agent: str, tool: str, args: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> Rule:
        """The rule that governs this call, judged on the arguments as the tool will receive them (`schema`:
        the tool's JSON schema). Fail closed: `hard` when no rule matches; when a condition cannot be
        evaluated, the strictest of that rule, any later one that also cannot, and the first that matches."""
        received = as_received(args, schema)
        unsure: list[Rule] = []
        for rule in self.rules:
            if not rule.covers(agent, tool):
                continue
            try:
                holds = rule.condition_holds(received)
            except MissingArgument:
                continue  # a condition on an argument this call does not have (even by default) is about other calls
            except Exception as error:  # noqa: BLE001 - a Python condition may raise anything
                log.warning(
                    "rule %r cannot decide %s.%s (%s); the strictest rule it might be decides", rule.label, agent, tool, error
                )
                unsure.append(rule)
                continue
            if holds:
                return _strictest_of(unsure, rule) if unsure else rule
        return _strictest_of(unsure, FAIL_CLOSED) if unsure else FAIL_CLOSED


def _strictest_of(unsure: list[Rule], matched: Rule) -> Rule:
    """Of the rules whose conditions could not be evaluated and the one that matched, the one asking the
    most (the earliest of equals), named so the message says a condition could not be evaluated."""
    chosen = max([*unsure, matched], key=lambda rule: rule.gate().demands)
    names = ", ".join(repr(rule.label) for rule in unsure)
    return chosen.model_copy(update={"name": f"{chosen.label} (the condition of {names} could not be evaluated)"})


class PolicyError(ValueError):
    """A policy file that cannot be used, with every problem named by rule and field."""


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules") if isinstance(data, dict) else None
        rule = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else None
        name = rule.get("name") if isinstance(rule, dict) else None
        label = f"rule {loc[1] + 1}" + (f" ({name!r})" if name else "")
        field = ".".join(str(part) for part in loc[2:])
        return f"{label}, field {field}" if field else label
    return ".".join(str(part) for part in loc) or "file"


_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def load_policies(path: str | Path | None) -> PolicySet:
    """The policy rules: a YAML file, or `module:attribute` naming a `PolicySet` or list of rules in
    Python (nothing: every call needs a human). `PolicyError` names each bad rule and field."""
    if path is None:
        return PolicySet()
    if isinstance(path, str) and _IMPORT_PATH.match(path) and not Path(path).exists():
        return _import_policies(path)
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text())
    except OSError as error:
        raise PolicyError(f"{source}: cannot be read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise PolicyError(f"{source}: not valid YAML: {error}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping with a `rules:` list")
    try:
        return PolicySet.model_validate(data)
    except ValidationError as error:
        problems = [f"{_where(e['loc'], data)}: {e['msg'].removeprefix('Value error, ')}" for e in error.errors()]
        raise PolicyError(f"{source}: " + "; ".join(problems)) from None


def _import_policies(path: str) -> PolicySet:
    module_name, _, attribute = path.partition(":")
    try:
        value = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise PolicyError(f"{path}: cannot be loaded: {error}") from None
    if isinstance(value, PolicySet):
        return value
    try:
        return PolicySet(rules=list(value))
    except (TypeError, ValidationError) as error:
        raise PolicyError(f"{path}: expected a PolicySet or a list of rules: {error}") from None
