"""The agent registry: `COUNTERSIGN_AGENTS` names a mapping of agent name to a graph or graph factory."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.pregel import Pregel

from approvals.errors import UnknownAgent

GraphSource = Pregel | StateGraph | Callable[[], Pregel | StateGraph]


@dataclass(frozen=True)
class Agent:
    """A compiled graph, built once in the worker's parent process, plus its tools' schemas."""

    name: str
    graph: Pregel
    tool_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)

    def bind(self, checkpointer: BaseCheckpointSaver) -> Pregel:
        """The graph using this job's checkpointer (a cheap shallow copy, no recompilation)."""
        return self.graph.copy(update={"checkpointer": checkpointer})


def _compile(source: GraphSource) -> Pregel:
    graph = source() if callable(source) and not isinstance(source, (Pregel, StateGraph)) else source
    if isinstance(graph, StateGraph):
        return graph.compile()
    if isinstance(graph, Pregel):
        return graph
    raise TypeError(f"expected a LangGraph graph or a factory returning one, got {type(graph).__name__}")


def _tool_schemas(graph: Pregel) -> dict[str, dict[str, Any]]:
    """JSON schemas of the arguments of every tool the graph's ToolNodes can call."""
    schemas: dict[str, dict[str, Any]] = {}
    for node in graph.nodes.values():
        bound = getattr(node, "bound", None)
        if isinstance(bound, ToolNode):
            for name, tool in bound.tools_by_name.items():
                schemas[name] = tool_schema(tool)
    return schemas


def tool_schema(tool: BaseTool) -> dict[str, Any]:
    """The JSON schema of what the model may pass to a tool (what an approver may edit)."""
    schema = tool.tool_call_schema
    if isinstance(schema, dict):
        return schema
    return schema.model_json_schema()


class AgentRegistry:
    """The agents this worker can run, compiled once."""

    def __init__(self, sources: Mapping[str, GraphSource]) -> None:
        self._agents: dict[str, Agent] = {}
        for name, source in sources.items():
            graph = _compile(source)
            self._agents[name] = Agent(name=name, graph=graph, tool_schemas=_tool_schemas(graph))

    @classmethod
    def from_import_path(cls, path: str) -> AgentRegistry:
        """Load the mapping named `module:attribute` (e.g. `worker.demo_agents:AGENTS`)."""
        module_name, _, attribute = path.partition(":")
        try:
            sources = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"COUNTERSIGN_AGENTS={path!r} cannot be loaded: {error}") from error
        if not isinstance(sources, Mapping) or not sources:
            raise ValueError(f"COUNTERSIGN_AGENTS={path!r} must name a non-empty mapping of agent name to graph")
        return cls(sources)

    def get(self, name: str) -> Agent:
        """The agent called `name`, or `UnknownAgent` listing the ones there are."""
        try:
            return self._agents[name]
        except KeyError:
            raise UnknownAgent(f"No agent {name!r}; this worker runs: {', '.join(sorted(self._agents))}.") from None

    def names(self) -> list[str]:
        """The registered agent names, sorted."""
        return sorted(self._agents)
