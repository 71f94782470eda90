"""Who may decide the calls of an approval request, each by the gate its own policy rule set.

A rule's approvers (user ids and user groups) decide its requests; a rule without approvers is decided
by the members of the channels the request is shown in (the channel it was posted in, and the channels
it was escalated to), so who can see a request is who can decide it. Memberships are Slack's: the
caller resolves them and hands them in (the core does not talk to Slack). A channel whose members could
not be read counts as holding nobody: a request is never opened to more people because Slack failed.
"""

from __future__ import annotations

from typing import NamedTuple

from approvals.errors import NotAnApprover
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


def check_may_decide(
    approval: ApprovalRequest,
    user_id: str,
    group_members: set[str] | None = None,
    channel_members: ChannelMembers | None = None,
    *,
    position: int | None = None,
) -> None:
    """Raise `NotAnApprover` unless `user_id` may decide the call at `position` under its own gate (the request
    as a whole, under the request's gate, when None).

    `group_members` holds the users of the gate's user groups, and `channel_members` the members of its
    `deciding_channels`, both resolved by the caller; without them, nobody outside the gate's approvers
    may decide (fail closed). Whoever proposed the call as it stands (the run's requester, an editor who
    re-proposed it) may not, unless the rule allows self-approval.
    """
    gate = approval.gate if position is None else approval.gate_of(position)
    proposers = {approval.run.requested_by} if position is None else approval.proposers_of(position)
    if user_id in proposers and not gate.allow_self_approval:
        raise NotAnApprover(approval, user_id, self_approval=True, gate=gate, position=position)
    if gate.approvers:
        if user_id not in gate.approvers and user_id not in (group_members or set()):
            raise NotAnApprover(approval, user_id, self_approval=False, gate=gate, position=position)
        return
    channels = deciding_channels(approval, gate)
    known = channel_members or ChannelMembers(frozenset(), {channel: "not looked up" for channel in channels})
    if user_id not in known.members:
        unreadable = {channel: why for channel, why in known.unreadable.items() if channel in channels}
        raise NotAnApprover(
            approval, user_id, self_approval=False, gate=gate, channels=channels, unreadable=unreadable, position=position
        )
