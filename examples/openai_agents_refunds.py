"""An OpenAI Agents SDK agent whose refunds wait for people in Slack, through Countersign's approval API.

The agent is written the SDK's own way: its risky tool says `needs_approval=True`, a run that reaches it
stops with interruptions, and the run goes on from its `RunState` once each is approved or rejected.
`run_gated` puts Countersign where the SDK expects a person: each interruption becomes an approval
request, and the decision taken in Slack approves or rejects it.

The SDK runs an approved call with the arguments the model proposed. When a person edits them in
Slack, the call is rejected and the agent is told the arguments the person approved, so the model can
call the tool again with them (that call is asked about again, under the rule its new arguments fall
under). A call never runs with arguments nobody approved.

    python -m examples.openai_agents_refunds "Refund order #42 for $250"

(with COUNTERSIGN_URL and COUNTERSIGN_KEY set, and OPENAI_API_KEY for a real model).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from agents import Agent, Runner, function_tool
from agents.items import ToolApprovalItem
from agents.models.interface import Model

from countersign.client import Approval, Countersign


@function_tool(needs_approval=True)
def refund(order_id: str, amount: float) -> str:
    """Refund a customer's order."""
    return f"Refunded ${amount:.2f} for order #{order_id}"


def refunds_agent(model: Model | str = "gpt-4o-mini") -> Agent[Any]:
    """The support agent: it may refund orders, each refund approved by a person first."""
    return Agent(name="Refunds", instructions="Refund orders when asked.", tools=[refund], model=model)


async def run_gated(agent: Agent[Any], prompt: str, countersign: Countersign, requested_by: str | None = None) -> str:
    """Run `agent` on `prompt`, each tool call that needs approval decided through Countersign; its final output."""
    result = await Runner.run(agent, prompt)
    while result.interruptions:
        state = result.to_state()
        for item in result.interruptions:
            approval = await asyncio.to_thread(_ask, countersign, item, prompt, requested_by)
            _decide(state, item, approval)
        result = await Runner.run(agent, state)
    return str(result.final_output)


def _ask(countersign: Countersign, item: ToolApprovalItem, prompt: str, requested_by: str | None) -> Approval:
    arguments = json.loads(item.arguments or "{}")
    return countersign.request_approval(item.name or "tool", arguments, context={"summary": prompt}, requested_by=requested_by)


def _decide(state: Any, item: ToolApprovalItem, approval: Approval) -> None:
    decision = approval.decision
    proposed = json.loads(item.arguments or "{}")
    if approval.goes_ahead and decision is not None and decision.arguments == proposed:
        state.approve(item)
    elif approval.goes_ahead and decision is not None:
        # The SDK would run the model's arguments: refuse them, and hand the model the approved ones.
        approved = json.dumps(decision.arguments)
        state.reject(item, rejection_message=f"A person changed the arguments; call the tool again with {approved}.")
    else:
        state.reject(item, rejection_message=(decision.message if decision else None) or f"Not approved ({approval.status}).")


def main() -> None:
    """Run the example against the Countersign named by COUNTERSIGN_URL and COUNTERSIGN_KEY."""
    countersign = Countersign(os.environ["COUNTERSIGN_URL"], os.environ["COUNTERSIGN_KEY"])
    print(asyncio.run(run_gated(refunds_agent(), " ".join(sys.argv[1:]) or "Refund order #42 for $250", countersign)))


if __name__ == "__main__":
    main()
