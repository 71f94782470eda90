"""The agent registry: `COUNTERSIGN_AGENTS` names a mapping of agent name to a graph, a graph factory, or
`agent(...)` of either with what Countersign should know about it:

    AGENTS = {
        "payments": payments_agent,                              # LangChain's HITL middleware: nothing to declare
        "transfers": agent(transfer_graph, resume="boolean"),   # its interrupt() is answered True / False
        "orders": agent(order_graph, resume={"tool_approval_request": "action"}, progress=False),
        "helpdesk": agent(helpdesk_graph, resume="text"),       # its interrupt("...?") wants the typed text
    }
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from langchain_core.tools import BaseTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.pregel import Pregel
from pydantic import BaseModel

from approvals.errors import UnknownAgent
from worker import tool_journal
from worker.protocols import Declaration, resolve

# Agents' graphs are their authors': any state, context, input and output.
AnyGraph: TypeAlias = Pregel[Any, Any, Any, Any]
AnyStateGraph: TypeAlias = StateGraph[Any, Any, Any, Any]
GraphSource: TypeAlias = AnyGraph | AnyStateGraph | Callable[[], AnyGraph | AnyStateGraph]


@dataclass(frozen=True)
class AgentSpec:
    """A graph (or factory) with what its author declares about it; made by `agent(...)`."""

    graph: GraphSource
    resume: Declaration = None
    progress: bool = True
    tools: Sequence[BaseTool] = ()
    asynchronous: bool | None = None
    idempotent_tools: frozenset[str] = frozenset()


def agent(
    graph: GraphSource,
    *,
    resume: Declaration = None,
    progress: bool = True,
    tools: Sequence[BaseTool] = (),
    asynchronous: bool | None = None,
    idempotent_tools: Sequence[str] = (),
) -> AgentSpec:
    """Declare how Countersign runs a graph.

    `resume`: how its bare `interrupt(value)` reads an answer: `"typed"` (`{"type": "approve"}`...),
    `"boolean"` (True / False), `"string"` (`"approve"` / `"reject"` / `{"action": "edit", ...}`), `"action"`
    (`{"action": "approve" | "reject" | "edit", ...}`), `"text"` (a question: the typed answer, a plain
    string), an object with `name`, `decisions` and `answer`, or a mapping of the value's `type` (or `"*"`)
    to one of those.
    `progress`: post its steps in the run's thread (on by default). `tools`: tools it calls outside a
    ToolNode, so edits of their arguments are typed. `asynchronous`: run it with `ainvoke` (found out from
    the graph when not given). `idempotent_tools`: tools safe to run twice (or that pass on their idempotency
    key, `countersign.agents.idempotency_key`): a call of one cut off by a worker's death is run again without
    asking a person."""
    if isinstance(resume, Mapping):
        for choice in resume.values():
            resolve(choice)
    elif resume is not None:
        resolve(resume)
    return AgentSpec(graph, resume, progress, tuple(tools), asynchronous, frozenset(idempotent_tools))


@dataclass(frozen=True)
class Agent:
    """A compiled graph, built once in the worker's parent process, with its tools' schemas and its
    author's declarations."""

    name: str
    graph: AnyGraph
    tool_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    resume: Declaration = None
    progress: bool = True
    asynchronous: bool = False
    # What approvers may answer for each gated tool, where the graph says (HITL middleware, Countersign's gate).
    allowed_decisions: dict[str, list[str]] = field(default_factory=dict)
    # Tools whose calls cut off by a worker's death run again without asking (`agent(..., idempotent_tools=...)`).
    idempotent_tools: frozenset[str] = frozenset()

    def bind(self, checkpointer: BaseCheckpointSaver[str]) -> AnyGraph:
        """The graph using this job's checkpointer (a cheap shallow copy, no recompilation)."""
        return self.graph.copy(update={"checkpointer": checkpointer})


def _compile(source: GraphSource) -> AnyGraph:
    graph = source() if callable(source) and not isinstance(source, (Pregel, StateGraph)) else source
    if isinstance(graph, StateGraph):
        return graph.compile()
    if isinstance(graph, Pregel):
        return graph
    raise TypeError(f"expected a LangGraph graph or a factory returning one, got {type(graph).__name__}")


def needs_async(graph: AnyGraph) -> bool:
    """True when a node or a ToolNode's tool has only an async implementation (so the graph needs `ainvoke`)."""
    for node in graph.nodes.values():
        bound = getattr(node, "bound", None)
        if isinstance(bound, Pregel) and needs_async(bound):
            return True
        if isinstance(bound, ToolNode):
            if any(getattr(t, "func", True) is None and getattr(t, "coroutine", None) for t in bound.tools_by_name.values()):
                return True
        elif getattr(bound, "func", True) is None and getattr(bound, "afunc", None) is not None:
            return True
    return False


_ALL_BEFORE = ["approve", "edit", "reject"]


def declared_decisions(graph: AnyGraph) -> dict[str, list[str]]:
    """The decisions each gated tool allows, read from the middleware that gates it: LangChain's
    `HumanInTheLoopMiddleware(interrupt_on=...)` and Countersign's gates, plus `ask_human` (a reply only)."""
    from langchain.agents.middleware import HumanInTheLoopMiddleware

    from worker.gate import CountersignGate

    allowed: dict[str, list[str]] = {}
    for node in graph.nodes.values():
        bound = getattr(node, "bound", None)
        owner = getattr(getattr(bound, "func", None), "__self__", None)
        if isinstance(owner, HumanInTheLoopMiddleware):
            # Typed as resolved configs, but read defensively: a `True` kept as given means every decision
            # before the call.
            interrupt_on: Mapping[str, object] = owner.interrupt_on
            for tool, config in interrupt_on.items():
                if config is True:
                    allowed[tool] = list(_ALL_BEFORE)
                elif isinstance(config, Mapping):
                    allowed[tool] = [str(d) for d in config.get("allowed_decisions", _ALL_BEFORE)]
        if isinstance(owner, CountersignGate):
            for tool in owner.after:
                allowed[tool] = ["approve", "reject"]
        if isinstance(bound, ToolNode):
            if "ask_human" in bound.tools_by_name:
                allowed["ask_human"] = ["respond"]
            for gate in _owners(getattr(bound, "_wrap_tool_call", None), CountersignGate):
                for tool in [*gate.before, *gate.before_when]:
                    allowed[tool] = ["approve", "edit", "reject", "respond"]
    return allowed


def _owners(function: Any, kind: type, depth: int = 6) -> list[Any]:
    """Objects of `kind` whose bound methods `function` is, or calls through its closures (LangChain chains
    the middlewares' tool-call wrappers into nested closures)."""
    if function is None or depth == 0:
        return []
    owner = getattr(function, "__self__", None)
    if isinstance(owner, kind):
        return [owner]
    found = []
    for cell in getattr(function, "__closure__", None) or ():
        try:
            contents = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if callable(contents):
            found.extend(_owners(contents, kind, depth - 1))
    return found


def _tool_schemas(graph: AnyGraph) -> dict[str, dict[str, Any]]:
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
    if issubclass(schema, BaseModel):
        return schema.model_json_schema()
    raise TypeError(f"tool {tool.name!r}: arguments described by a pydantic v1 model, which Countersign cannot read")


class AgentRegistry:
    """The agents this worker can run, compiled once."""

    def __init__(self, sources: Mapping[str, GraphSource | AgentSpec]) -> None:
        self._agents: dict[str, Agent] = {}
        for name, source in sources.items():
            spec = source if isinstance(source, AgentSpec) else AgentSpec(source)
            graph = _compile(spec.graph)
            tool_journal.install(graph)
            schemas = {**_tool_schemas(graph), **{tool.name: tool_schema(tool) for tool in spec.tools}}
            self._agents[name] = Agent(
                name=name,
                graph=graph,
                tool_schemas=schemas,
                resume=spec.resume,
                progress=spec.progress,
                asynchronous=needs_async(graph) if spec.asynchronous is None else spec.asynchronous,
                allowed_decisions=declared_decisions(graph),
                idempotent_tools=spec.idempotent_tools,
            )

    @classmethod
    def from_import_path(cls, path: str) -> AgentRegistry:
        """Load the mapping named `module:attribute` (e.g. `worker.demo_agents:AGENTS`)."""
        module_name, _, attribute = path.partition(":")
        try:
            sources = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError, ValueError) as error:
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

    def agents(self) -> list[Agent]:
        """Every registered agent, by name."""
        return [self._agents[name] for name in self.names()]

    def names(self) -> list[str]:
        """The registered agent names, sorted."""
        return sorted(self._agents)
