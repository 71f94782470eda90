"""Resume protocols: the value a bare `interrupt(value)` is answered with, in the shape its agent reads.

A bare interrupt has no standard answer. Agents in the wild read `"approve"` / `"reject"` strings,
`True` / `False`, or `{"type": ...}` dicts, and a wrong guess can turn a Reject into a run (a dict
is truthy; an executor that falls back to approving reads anything unknown as yes). So a protocol
is declared by the agent's author in the registry:

    AGENTS = {"transfers": agent(transfer_graph, resume="boolean"), "helpdesk": agent(graph, resume="text")}

Undeclared, a value is answered only with what every reader known for its shape takes the same way
(LangGraph's tutorial review node: `"approve"`), and a Reject that no value says to all of them, like
any Reject of an unrecognised value, stops the run without resuming the agent at all; the message
says how to declare the protocol.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from approvals.models import DEADLINE_DECIDER, POLICY_DECIDER, ApprovalRequest, Decision, DecisionType, ProposedAction

APPROVE, EDIT, REJECT, RESPOND = DecisionType.APPROVE, DecisionType.EDIT, DecisionType.REJECT, DecisionType.RESPOND


class ResumeProtocol(Protocol):
    """How one agent reads an answer to its `interrupt(value)`."""

    name: str

    def decisions(self, *, calls: bool) -> list[DecisionType]:
        """What approvers may answer (`calls`: the value proposes tool calls an approver could edit)."""
        ...

    def answer(self, approval: ApprovalRequest) -> Any:
        """The resume value for the approval's decisions; None to not resume at all (the run stops)."""
        ...


def _decision(action: ProposedAction) -> Decision:
    if action.decision is None:
        raise ValueError(f"`{action.tool}` has no decision yet")
    return action.decision


def _edited_call(action: ProposedAction) -> dict[str, Any]:
    decision = _decision(action)
    args = decision.edited_args if decision.type is EDIT and decision.edited_args is not None else action.args
    call: dict[str, Any] = {"name": action.tool, "args": args}
    if action.call_id:
        call["id"] = action.call_id
    return call


class TypedDecisions:
    """LangChain's decision dicts: `{"type": "approve"}`, `{"type": "reject", "message": ...}`,
    `{"type": "respond", "message": ...}`, `{"type": "edit", "edited_action": {name, args}}`; with several
    proposed calls, `{"decisions": [...]}` in their order."""

    name = "typed"

    def decisions(self, *, calls: bool) -> list[DecisionType]:
        return [APPROVE, EDIT, RESPOND, REJECT] if calls else [APPROVE, RESPOND, REJECT]

    @staticmethod
    def one(action: ProposedAction, note: bool = False) -> dict[str, Any]:
        """One action's decision as LangChain writes it; with `note`, an approval carries the approver's note as
        `message` (only Countersign's own gate reads it: LangChain's `ApproveDecision` has no place for one)."""
        decision = _decision(action)
        if decision.type is EDIT:
            return {"type": "edit", "edited_action": {"name": action.tool, "args": decision.edited_args or {}}}
        if decision.type in (REJECT, RESPOND):
            return {"type": decision.type.value, "message": decision.message or ""}
        return {"type": "approve", "message": decision.message} if note and decision.message else {"type": "approve"}

    def answer(self, approval: ApprovalRequest) -> Any:
        if len(approval.actions) == 1:
            return self.one(approval.action)
        return {"decisions": [self.one(action) for action in approval.actions]}


class BooleanAnswer:
    """`True` to go ahead, `False` not to (`if not interrupt(...): return "cancelled"`); one answer for all
    proposed calls, so rejecting any rejects them all."""

    name = "boolean"

    def decisions(self, *, calls: bool) -> list[DecisionType]:
        return [APPROVE, REJECT]

    def answer(self, approval: ApprovalRequest) -> Any:
        return all(_decision(action).type is APPROVE for action in approval.actions)


class StringAnswer:
    """`"approve"`, `"reject"`, or `{"action": "edit", "correction": ...}` (LangGraph's tutorial review node).
    The correction is the edited arguments of the one proposed call, or, with several, `{"tool_calls": [...]}`
    with every call as it should run. One answer for all calls: rejecting any rejects them all."""

    name = "string"

    def decisions(self, *, calls: bool) -> list[DecisionType]:
        return [APPROVE, EDIT, REJECT] if calls else [APPROVE, REJECT]

    def answer(self, approval: ApprovalRequest) -> Any:
        kinds = [_decision(action).type for action in approval.actions]
        if any(kind in (REJECT, RESPOND) for kind in kinds):
            return "reject"
        if EDIT not in kinds:
            return "approve"
        if len(approval.actions) == 1:
            return {"action": "edit", "correction": _edited_call(approval.action)["args"]}
        return {"action": "edit", "correction": {"tool_calls": [_edited_call(action) for action in approval.actions]}}


class ActionDecisions:
    """`{"action": "approve"}`, `{"action": "reject", "message": ...}`, or `{"action": "edit", "tool_calls": [...]}`
    with every proposed call as it should run: what both of LangGraph's tutorial executors read as a reject
    (`decision.get("action") == "reject"`). One answer for all calls: rejecting any rejects them all."""

    name = "action"

    def decisions(self, *, calls: bool) -> list[DecisionType]:
        return [APPROVE, EDIT, REJECT] if calls else [APPROVE, REJECT]

    def answer(self, approval: ApprovalRequest) -> Any:
        refusals = [d for d in (_decision(a) for a in approval.actions) if d.type in (REJECT, RESPOND)]
        if refusals:
            return {"action": "reject", "message": refusals[0].message or ""}
        if all(_decision(action).type is APPROVE for action in approval.actions):
            return {"action": "approve"}
        return {"action": "edit", "tool_calls": [_edited_call(action) for action in approval.actions]}


class ApproveOrStop:
    """A value recognised without a declaration whose known readers disagree on what a "no" looks like:
    LangGraph's tutorial review node (`tool_approval_request`) is read by a `tool_executor` that rejects on
    `"reject"` or `{"action": "reject"}`, by a `tool_executor_with_edits` that runs anything but
    `{"action": "reject"}`, and by executors that compare with `"reject"` only. `"approve"` means yes to all
    of them; no value means no to all, so Reject does not resume the agent (the run stops where it is), and
    Edit, which they read differently again, is not offered."""

    name = "approve_or_stop"

    def decisions(self, *, calls: bool) -> list[DecisionType]:
        return [APPROVE, REJECT]

    def answer(self, approval: ApprovalRequest) -> Any:
        if all(_decision(action).type is APPROVE for action in approval.actions):
            return "approve"
        return None


class TextAnswer:
    """A question answered with text (`answer = interrupt("What is the ticket number?")`): the typed text, or
    the chosen one of the options the value lists, as a plain string. There is nothing to approve or reject;
    an answer nobody typed (a deadline's, or a policy's) is not made up: the run stops instead."""

    name = "text"

    def decisions(self, *, calls: bool) -> list[DecisionType]:
        return [RESPOND]

    def answer(self, approval: ApprovalRequest) -> Any:
        decision = _decision(approval.action)
        if decision.type is not RESPOND or decision.decided_by in (DEADLINE_DECIDER, POLICY_DECIDER):
            return None
        return decision.message or ""


class Undeclared:
    """Neither recognised nor declared: Approve resumes with `{"type": "approve"}` (truthy, and LangChain's
    shape), and Reject does not resume the agent at all: the run stops where it is, so whatever the node
    would have done after the interrupt never happens."""

    name = "undeclared"

    def decisions(self, *, calls: bool) -> list[DecisionType]:
        return [APPROVE, REJECT]

    def answer(self, approval: ApprovalRequest) -> Any:
        if all(_decision(action).type is APPROVE for action in approval.actions):
            return {"type": "approve"}
        return None


BUILT_IN: dict[str, ResumeProtocol] = {
    p.name: p
    for p in (TypedDecisions(), BooleanAnswer(), StringAnswer(), ActionDecisions(), TextAnswer(), ApproveOrStop(), Undeclared())
}
# What only recognition (or failing closed) picks: declaring one of these would not say how the agent reads.
_NOT_DECLARABLE = ("undeclared", "approve_or_stop")
UNDECLARED = BUILT_IN["undeclared"]

ProtocolChoice = str | ResumeProtocol
Declaration = ProtocolChoice | Mapping[str, ProtocolChoice] | None


def resolve(choice: ProtocolChoice) -> ResumeProtocol:
    """A protocol given by name (`typed`, `boolean`, `string`, `action`, `text`) or as an object with `name`,
    `decisions`, `answer`."""
    if isinstance(choice, str):
        if choice not in BUILT_IN or choice in _NOT_DECLARABLE:
            raise ValueError(f"unknown resume protocol {choice!r}; built in: typed, boolean, string, action, text")
        return BUILT_IN[choice]
    for attribute in ("name", "decisions", "answer"):
        if not hasattr(choice, attribute):
            raise ValueError(f"a resume protocol needs `{attribute}` ({type(choice).__name__} has none)")
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,19}", str(choice.name)):
        raise ValueError(f"a resume protocol's name must be 1-20 lowercase letters, digits, - or _ (got {choice.name!r})")
    return choice


_APPROVE_WORD = re.compile(r"\bapprove\b", re.I)
_REJECT_WORD = re.compile(r"\breject\b", re.I)


def recognised(value: Any) -> ResumeProtocol | None:
    """What a value says about its readers: tool calls with instructions to reply 'approve' or 'reject' (LangGraph's
    tutorial review node) are read by executors that all take `"approve"` as yes and disagree on the rest."""
    if not isinstance(value, Mapping):
        return None
    instructions = value.get("instructions")
    if (
        isinstance(value.get("tool_calls"), list)
        and isinstance(instructions, str)
        and _APPROVE_WORD.search(instructions)
        and _REJECT_WORD.search(instructions)
    ):
        return BUILT_IN["approve_or_stop"]
    return None


def protocol_for(value: Any, declared: Declaration) -> ResumeProtocol:
    """How to answer this value: the author's declaration for its `type`, or for the agent; else what the
    value states; else `Undeclared` (fail closed)."""
    if isinstance(declared, Mapping):
        kind = value.get("type") if isinstance(value, Mapping) else None
        chosen = declared.get(kind) if isinstance(kind, str) else None
        chosen = chosen if chosen is not None else declared.get("*")
        if chosen is not None:
            return resolve(chosen)
    elif declared is not None:
        return resolve(declared)
    return recognised(value) or UNDECLARED
