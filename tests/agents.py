"""The agent registry the test processes run (COUNTERSIGN_AGENTS=tests.agents:AGENTS)."""

from __future__ import annotations

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langgraph.graph.state import CompiledStateGraph

from worker.demo_agents import ScriptedPaymentsModel, lookup_order, payments_agent, refund


def payments_per_call() -> CompiledStateGraph:
    """The payments agent gated per call, where approvers may only approve or reject."""
    return create_agent(
        ScriptedPaymentsModel(),
        tools=[lookup_order, refund],
        middleware=[
            HumanInTheLoopMiddleware(
                interrupt_on={"refund": {"allowed_decisions": ["approve", "reject"]}}, interrupt_mode="per_call"
            )
        ],
    )


AGENTS = {"payments": payments_agent, "payments_per_call": payments_per_call}
