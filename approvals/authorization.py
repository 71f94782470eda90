"""Who may decide the calls of an approval request, each by the gate its own policy rule set.

A rule's approvers (user ids and user groups) decide its requests; a rule without approvers is decided
by the members of the channels the request is shown in (the channel it was posted in, and the channels
it was escalated to), so who can see a request is who can decide it. A person a request was handed to
("Ask someone else…") decides it as a named approver would. While a named approver (directly, or through
a user group) is away, their delegate decides for them; channel members have no delegates. Whoever decides,
the rule's other limits hold: who proposed a call does not decide it (nor their delegate for them), unless
the rule allows self-approval. Memberships are Slack's: the caller resolves them and hands them in (the core
does not talk to Slack). A channel whose members could not be read counts as holding nobody: a request is
never opened to more people because Slack failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from approvals.errors import HandoverRefused, NotAnApprover
from approvals.models import ApprovalRequest, Gate


class ChannelMembers(NamedTuple):
    """The members of some channels, as the caller could read them."""

    members: frozenset[str]
    # Channels whose members could not be read, with why (Slack's error): nobody is let in through them.
    unreadable: dict[str, str]


def deciding_channels(approval: ApprovalRequest, gate: Gate | None = None) -> tuple[str, ...]:
    """The channels whose members decide `approval` under `gate` (default: the request's): none when the gate
    names approvers; else the gate's own channel, or the one the request was posted in, and those it was
    escalated to (where it is shown, with its buttons)."""
    gate = gate or approval.gate
    if gate.approvers:
        return ()
    # A call's rule may name a channel other than the one its request was posted in (calls under several
    # rules share one message): that rule's channel still says who decides the call.
    shown_in = [gate.channel or approval.channel, *(escalation.channel for escalation in approval.escalations)]
    return tuple(dict.fromkeys(channel for channel in shown_in if channel))


def handover_allowed(approval: ApprovalRequest) -> bool:
    """Whether the rules of every call still waiting let its deciders hand the request to someone else."""
    return all(approval.gate_of(position).allow_handover for position in approval.undecided())


def check_handover_target(approval: ApprovalRequest, to: str, by: str) -> None:
    """Raise `HandoverRefused` when `to` cannot be handed the request by `by`: themselves, someone who proposed a call
    its rule keeps them from deciding, or someone it was handed to already."""
    if to == by:
        raise HandoverRefused(approval, "yourself", to)
    if any(to in approval.proposers_of(p) and not approval.gate_of(p).allow_self_approval for p in approval.undecided()):
        raise HandoverRefused(approval, "requester", to)
    if to in approval.handed_to:
        raise HandoverRefused(approval, "already_asked", to)


def check_may_decide(
    approval: ApprovalRequest,
    user_id: str,
    group_members: set[str] | None = None,
    channel_members: ChannelMembers | None = None,
    *,
    position: int | None = None,
    standing_in: Callable[[], Sequence[str]] = tuple,
) -> str | None:
    """Raise `NotAnApprover` unless `user_id` may decide the call at `position` under its own gate (the request
    as a whole, under the request's gate, when None); returns whom they decide it for (None: for themselves).

    `group_members` holds the users of the gate's user groups, and `channel_members` the members of its
    `deciding_channels`, both resolved by the caller; without them, nobody outside the gate's approvers
    may decide (fail closed). `standing_in` gives the people away who named `user_id` their delegate (asked
    only when `user_id` is not named themselves): a named approver among them is decided for. Whoever
    proposed the call as it stands (the run's requester, an editor who re-proposed it) may not decide it,
    nor may their delegate for them, unless the rule allows self-approval.
    """
    gate = approval.gate if position is None else approval.gate_of(position)
    proposers = {approval.run.requested_by} if position is None else approval.proposers_of(position)
    if user_id in proposers and not gate.allow_self_approval:
        raise NotAnApprover(approval, user_id, self_approval=True, gate=gate, position=position)
    if user_id in approval.handed_to and gate.rule in approval.handed_rules.get(user_id, ()):
        return None
    if gate.approvers:
        named = set(gate.approvers) | (group_members or set())
        if user_id in named:
            return None
        absent = [person for person in standing_in() if person in named]
        allowed = [person for person in absent if gate.allow_self_approval or person not in proposers]
        if allowed:
            return allowed[0]
        raise NotAnApprover(
            approval, user_id, self_approval=bool(absent), gate=gate, position=position, standing_in=next(iter(absent), None)
        )
    channels = deciding_channels(approval, gate)
    known = channel_members or ChannelMembers(frozenset(), {channel: "not looked up" for channel in channels})
    if user_id not in known.members:
        unreadable = {channel: why for channel, why in known.unreadable.items() if channel in channels}
        raise NotAnApprover(
            approval, user_id, self_approval=False, gate=gate, channels=channels, unreadable=unreadable, position=position
        )
    return None
