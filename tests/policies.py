"""Named policy rules for the in-process tests: a test says which it uses with `local.policies(...)`.

The same rules, with their conditions, are in tests/policies.yml for the real processes."""

from __future__ import annotations

from approvals.policies import Rule

TINY_REFUNDS = Rule(name="tiny refunds", agent="payments*", tool="refund", when="amount <= 1", level="auto")
TWO_PERSON_REFUNDS = Rule(
    name="two-person refunds", agent="payments", tool="refund", when="amount >= 10000", level="manual", quorum=2
)
CAREFUL_REFUNDS = Rule(name="careful refunds", agent="payments", tool="refund", when="amount == 666", level="manual")
FINANCE_REFUNDS = Rule(
    name="finance refunds",
    agent="payments",
    tool="refund",
    when="amount >= 5000",
    approvers=["U0CFO", "@finance"],
    channel="C0FINANCE",
)
SOFT_REFUNDS = Rule(name="soft refunds", agent="payments", tool="refund", when="amount == 3", level="soft", timeout="15m")
SELF_SERVICE_REFUNDS = Rule(
    name="self-service refunds", agent="payments", tool="refund", when="amount == 7", allow_self_approval=True
)
# No approver list: decided by the members of its (private) channel, tests/test_who_sees_a_request.py.
OPS_REFUNDS = Rule(name="ops refunds", agent="payments", tool="refund", when="amount == 19", channel="C0OPS")
ESCALATING_OPS_REFUNDS = Rule(
    name="escalating ops refunds",
    agent="payments",
    tool="refund",
    when="amount == 19",
    channel="C0OPS",
    timeout="1h",
    on_timeout="escalate",
    escalation=[{"channel": "C0OPSLEADS", "timeout": "2h"}],
)
# Approvals that remember (tests/test_remembering.py): small serial refunds, for the rest of the run or for 30
# minutes; larger ones under a rule of their own (which remembers too, yet is another rule).
REMEMBERED_REFUNDS = Rule(name="remembered refunds", agent="serial_refunds*", tool="refund", when="amount < 100", remember="run")
BOXED_REFUNDS = Rule(name="boxed refunds", agent="serial_refunds*", tool="refund", when="amount < 100", remember="30m")
LARGER_REFUNDS = Rule(name="larger refunds", agent="serial_refunds*", tool="refund", when="amount >= 100", remember="run")
FORGETFUL_REFUNDS = Rule(name="forgetful refunds", agent="serial_refunds*", tool="refund")
