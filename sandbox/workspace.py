"""The pretend Slack workspace of the sandbox: its people, its channels, and the demo policy.

Four people are enough to try every rule: someone who asks the agent for things, two approvers
(four-eyes: the asker may not approve their own run; quorum: big refunds need both), and an
admin who may change settings with `/countersign`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sandbox.emulator import Channel, User

__all__ = ["APPROVALS_CHANNEL", "DEMO_POLICY", "PEOPLE", "Person", "Role", "admin", "channels", "users"]

# The demo policy used when COUNTERSIGN_POLICIES is unset (see the file for its rules).
DEMO_POLICY = Path(__file__).with_name("demo_policies.yml")


class Role:
    """What a person of the sandbox is there to try."""

    REQUESTER = "requester"
    APPROVER = "approver"
    ADMIN = "admin"


@dataclass(frozen=True)
class Person:
    """Someone the page lets you act as."""

    user: User
    role: str
    about: str

    @property
    def id(self) -> str:
        """Their Slack user id."""
        return self.user.id


PEOPLE: tuple[Person, ...] = (
    Person(
        User("U0SAM", "sam", "Sam Rivera", "Support lead"),
        Role.REQUESTER,
        "asks the agent for refunds; may not approve their own",
    ),
    Person(User("U0ALEX", "alex", "Alex Chen", "Finance"), Role.APPROVER, "approves refunds"),
    Person(User("U0JORDAN", "jordan", "Jordan Okafor", "Finance"), Role.APPROVER, "the second approver big refunds need"),
    Person(
        User("U0MORGAN", "morgan", "Morgan Lee", "Operations"),
        Role.ADMIN,
        "Countersign admin: /countersign timeout, escalation, settings",
    ),
)

# Everyone is in both: requests whose rule names no approvers are decided by the members of their channel.
_EVERYONE = tuple(person.id for person in PEOPLE)
APPROVALS_CHANNEL = Channel("C0APPROVALS", "approvals", members=_EVERYONE)
_CHANNELS = (APPROVALS_CHANNEL, Channel("C0SUPPORT", "support", members=_EVERYONE))


def users() -> list[User]:
    """Every member of the sandbox workspace."""
    return [person.user for person in PEOPLE]


def channels() -> list[Channel]:
    """The channels the sandbox starts with (rules may post to others; they appear when used)."""
    return list(_CHANNELS)


def admin() -> Person:
    """The person who is Countersign's admin in the sandbox."""
    return next(person for person in PEOPLE if person.role == Role.ADMIN)
