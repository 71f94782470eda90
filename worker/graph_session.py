"""A job's handle on an agent's graph: bound to the job's checkpointer, driven synchronously whether the
graph is sync or async, and streaming what each step did to whoever listens (the run's progress).

The runtime and the interrupt adapters call `invoke`, `get_state` and `update_state` as on any compiled
graph; for an async agent each call runs on the process's event loop (`ainvoke`, `aget_state`, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import Durability, StateSnapshot

from approvals.settings import Settings
from worker.checkpointer import KeptCheckpointer, open_async_checkpointer, open_checkpointer
from worker.event_loop import EventLoop, event_loop
from worker.registry import Agent, AnyGraph

StepListener = Callable[[dict[str, Any]], None]

# Each step's checkpoint is committed before the next step starts (LangGraph's default, "async", writes it
# while the next step runs): a worker killed mid-step leaves the thread at the step before, never at an
# older checkpoint with some of a step's writes, which reads as a run that ended.
DURABILITY: Durability = "sync"


class GraphSession:
    """One job's graph: sync calls, whatever the graph is underneath."""

    def __init__(self, graph: AnyGraph, loop: EventLoop | None, on_step: StepListener | None = None) -> None:
        self.graph = graph
        self.loop = loop
        self.on_step = on_step

    @property
    def interrupt_before_nodes(self) -> Any:
        """The nodes the graph was compiled to stop before (static breakpoints)."""
        return self.graph.interrupt_before_nodes

    @property
    def interrupt_after_nodes(self) -> Any:
        """The nodes the graph was compiled to stop after (static breakpoints)."""
        return self.graph.interrupt_after_nodes

    def get_state(self, config: RunnableConfig) -> StateSnapshot:
        """The thread's current state."""
        if self.loop is None:
            return self.graph.get_state(config)
        return self.loop.run(self.graph.aget_state(config))

    def update_state(self, config: RunnableConfig, values: Any, as_node: str | None = None) -> Any:
        """Write to the thread's state as `as_node` would."""
        if self.loop is None:
            return self.graph.update_state(config, values, as_node=as_node)
        return self.loop.run(self.graph.aupdate_state(config, values, as_node=as_node))

    def invoke(self, input: Any, config: RunnableConfig) -> None:
        """Run the graph until it pauses or ends, telling the listener what each step did."""
        if self.on_step is None:
            if self.loop is None:
                self.graph.invoke(input, config, durability=DURABILITY)
            else:
                self.loop.run(self.graph.ainvoke(input, config, durability=DURABILITY))
            return
        for update in self._stream(input, config):
            self.on_step(update)

    def _stream(self, input: Any, config: RunnableConfig) -> Iterator[dict[str, Any]]:
        if self.loop is None:
            yield from self.graph.stream(input, config, stream_mode="updates", durability=DURABILITY)
            return
        updates = self.graph.astream(input, config, stream_mode="updates", durability=DURABILITY)

        # The loop runs coroutines; an async iterator's step is only promised to be awaitable.
        async def next_update() -> dict[str, Any]:
            return await anext(updates)

        while True:
            try:
                yield self.loop.run(next_update())
            except StopAsyncIteration:
                return


@contextmanager
def graph_session(
    agent: Agent, settings: Settings, on_step: StepListener | None = None, kept: KeptCheckpointer | None = None
) -> Iterator[GraphSession]:
    """The agent's graph on the job process's `kept` checkpointer, or on one of its own for this job (async
    savers, for async agents, are always the job's own: they belong to the loop they were opened on)."""
    if not agent.asynchronous:
        with kept.session() if kept is not None else open_checkpointer(settings) as saver:
            yield GraphSession(agent.bind(saver), None, on_step)
        return
    loop = event_loop()
    with open_async_checkpointer(settings, loop) as saver:
        yield GraphSession(agent.bind(saver), loop, on_step)
