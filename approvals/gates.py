"""The gate each call gets (its own rule, judged on what the tool will receive, with the admins' settings
for that rule on top) and what a request of several calls shows and times as a whole."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from approvals.admin_settings import AdminSettings
from approvals.models import Gate
from approvals.policies import PolicySet


def call_gate(
    policies: PolicySet,
    admin_settings: AdminSettings,
    agent: str,
    tool: str,
    args: Mapping[str, Any],
    schema: Mapping[str, Any] | None,
    default_timeout: timedelta,
) -> Gate:
    """The gate of one call with these arguments: its rule's, with what admins set in Slack for the agent,
    its tool, and that rule of it (an override never lowers a manual rule or a quorum)."""
    rule = policies.rule_for(agent, tool, args, schema)
    return admin_settings.for_call(agent, tool, rule.label).apply(rule.gate(default_timeout))


def request_gate(gates: list[Gate]) -> Gate:
    """What a request whose calls are governed by `gates` shows and times as a whole: where it is posted,
    its deadline and what the deadline does. Deciding stays with each call's own gate.

    Fail closed: the deadline approves only when every call's rule approves at it (then at the latest of
    their deadlines), else it comes at the earliest and rejects (or escalates as the strictest escalating
    rule says, approving at the end only when every rule would)."""
    if len({gate.model_dump_json() for gate in gates}) == 1:
        return gates[0]
    strictest = max(gates, key=lambda gate: gate.demands)
    outcomes = {gate.action_at_deadline(len(gate.escalation)) for gate in gates}
    all_approve = outcomes == {"approve"}
    escalating = [gate for gate in gates if gate.on_timeout == "escalate"]
    timing: dict[str, Any]
    if all(gate.on_timeout == "approve" for gate in gates):
        timing = {"timeout": max(gate.timeout for gate in gates), "on_timeout": "approve", "escalation": []}
    elif escalating:
        chain = max(escalating, key=lambda gate: gate.demands)
        timing = {
            "timeout": min(gate.timeout for gate in gates),
            "on_timeout": "escalate",
            "escalation": chain.escalation,
            "final_on_timeout": "approve" if all_approve else "reject",
        }
    else:
        timing = {"timeout": min(gate.timeout for gate in gates), "on_timeout": "reject", "escalation": []}
    rules = list(dict.fromkeys(gate.rule for gate in gates))
    listed = [] if any(not g.approvers for g in gates) else list(dict.fromkeys(a for g in gates for a in g.approvers))
    return strictest.model_copy(
        update={
            "rule": rules[0] if len(rules) == 1 else "; ".join(rules),
            "approvers": listed,
            # Who may list it: the lists show a request to whoever may decide one of its calls.
            "allow_self_approval": any(gate.allow_self_approval for gate in gates),
            "reminders": strictest.reminders,
            **timing,
        }
    )
