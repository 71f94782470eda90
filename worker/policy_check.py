"""Policies checked against the agents they govern, at worker start: a rule whose deadline outcome no
call it covers can take is refused (it would only ever fall back), and so are starters set for an agent
the registry does not have (a misspelt name would leave the real agent open to anyone), each with one
line naming it."""

from __future__ import annotations

import logging

from approvals.policies import PolicySet
from worker.registry import AgentRegistry

log = logging.getLogger(__name__)


def unappliable_rules(policies: PolicySet, registry: AgentRegistry) -> list[str]:
    """One problem per rule that goes ahead at a deadline while every call it covers forbids approving."""
    problems = []
    for rule in policies.rules:
        gate = rule.gate()
        outcomes = {gate.action_at_deadline(stage) for stage in range(len(gate.escalation) + 1)}
        if "approve" not in outcomes:
            continue
        covered = [
            (f"{agent.name}.{tool}", allowed)
            for agent in registry.agents()
            for tool, allowed in agent.allowed_decisions.items()
            if rule.covers(agent.name, tool)
        ]
        refusing = [name for name, allowed in covered if "approve" not in allowed]
        if covered and len(refusing) == len(covered):
            problems.append(
                f"rule {rule.label!r} goes ahead at its deadline, but {', '.join(refusing)} cannot be approved "
                "(its interrupt does not allow approve), so that could never apply"
            )
        elif refusing:
            log.warning("rule %r goes ahead at its deadline; for %s it rejects instead", rule.label, ", ".join(refusing))
    return problems


def unknown_agents(policies: PolicySet, registry: AgentRegistry) -> list[str]:
    """One problem per `agents:` entry naming no agent of the registry (`*`, the others, names none)."""
    names = registry.names()
    return [
        f"agents: {name!r} is not an agent of COUNTERSIGN_AGENTS ({', '.join(names)})"
        for name in policies.agents
        if name != "*" and name not in names
    ]
