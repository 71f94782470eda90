"""The bench agent registry (`COUNTERSIGN_AGENTS=bench.agents:AGENTS`): the demo payments agent whose
gated `refund` tool records, as its very first statement, the wall-clock time its body starts; the time
the HITL middleware pauses the graph is recorded too (`interrupt_key`).

Where the time goes is `sink`: by default a Redis list per LangGraph thread
(`tool_start_key(thread_id)`, `RPUSH`ed on `REDIS_URL` from the environment), so the bench process
can read when the worker process started the tool; the in-process floor swaps in a `LocalSink`.

With `BENCH_PROFILE=1` in the worker's environment, importing this module also installs the
timing marks of `bench.profile_hooks`, and with `BENCH_EXPERIMENT=...` the in-memory what-ifs of
`bench.experiments` (both opt-in: the plain bench measures unmodified code).
"""

from __future__ import annotations

import os
import time
from typing import Any, Protocol

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware, human_in_the_loop
from langchain_core.tools import tool
from langgraph.config import get_config
from langgraph.errors import GraphInterrupt
from langgraph.graph.state import CompiledStateGraph

from worker.demo_agents import SYSTEM_PROMPT, ScriptedPaymentsModel, lookup_order

AGENT_NAME = "payments"
_KEY_PREFIX = "countersign:bench:tool-start:"
_INTERRUPT_PREFIX = "countersign:bench:interrupt:"


def tool_start_key(thread_id: str) -> str:
    """The Redis list the gated tool pushes its start times to, for one thread."""
    return _KEY_PREFIX + thread_id


def interrupt_key(thread_id: str) -> str:
    """The Redis list the HITL middleware's pauses push their times to, for one thread."""
    return _INTERRUPT_PREFIX + thread_id


class Sink(Protocol):
    def record(self, thread_id: str, started: float) -> None: ...


class RedisSink:
    """RPUSH each start time to `tool_start_key(thread_id)` on REDIS_URL (connected on first use, so per forked job)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._redis: Any = None
        self._pid = 0

    def record(self, thread_id: str, started: float) -> None:
        if self._redis is None or self._pid != os.getpid():
            from redis import Redis

            self._redis, self._pid = Redis.from_url(self.url), os.getpid()
        key = tool_start_key(thread_id)
        with self._redis.pipeline() as pipe:
            pipe.rpush(key, repr(started))
            pipe.expire(key, 3600)
            for name, value in _extra_fields(thread_id):
                pipe.rpush(name, value)
                pipe.expire(name, 3600)
            pipe.execute()


class LocalSink:
    """Start times kept in this process (the in-process floor)."""

    def __init__(self) -> None:
        self.starts: dict[str, list[float]] = {}

    def record(self, thread_id: str, started: float) -> None:
        self.starts.setdefault(thread_id, []).append(started)


def _default_sink() -> Sink:
    url = os.environ.get("REDIS_URL")
    return RedisSink(url) if url else LocalSink()


sink: Sink | None = None


def _extra_fields(thread_id: str) -> list[tuple[str, str]]:
    """Profiling marks to ship alongside the start time (empty unless BENCH_PROFILE installed hooks)."""
    hooks = globals().get("_profile_hooks")
    return hooks.drain(thread_id) if hooks is not None else []


def record_tool_start(started: float) -> None:
    """Record that the gated tool of the current LangGraph thread started at `started`."""
    global sink
    if sink is None:
        sink = _default_sink()
    thread_id = str(get_config()["configurable"]["thread_id"])
    sink.record(thread_id, started)


def _timed_interrupt(value: Any) -> Any:
    """LangGraph's `interrupt`, as the HITL middleware calls it, noting when it pauses the graph (the
    moment the request exists for the agent; the bench times from here to the request's chat.postMessage)."""
    try:
        return _interrupt(value)
    except GraphInterrupt:
        paused = time.time()
        url = os.environ.get("REDIS_URL")
        if url:
            global _interrupt_redis
            if _interrupt_redis is None or _interrupt_redis[0] != os.getpid():
                from redis import Redis

                _interrupt_redis = (os.getpid(), Redis.from_url(url))
            key = interrupt_key(str(get_config()["configurable"]["thread_id"]))
            _interrupt_redis[1].rpush(key, repr(paused))
            _interrupt_redis[1].expire(key, 3600)
        raise


_interrupt = human_in_the_loop.interrupt
_interrupt_redis: tuple[int, Any] | None = None
# The middleware looks `interrupt` up in its module when it pauses; only the worker importing this registry sees it.
human_in_the_loop.interrupt = _timed_interrupt


@tool
def refund(order_id: str, amount: float, reason: str) -> str:
    """Refund part or all of an order's payment to the customer."""
    started = time.time()
    record_tool_start(started)
    return f"Refunded ${amount:.2f} for order #{order_id} (reason: {reason})."


def bench_payments_agent() -> CompiledStateGraph:
    """The demo `payments` agent (scripted model, `refund` gated) with the timestamping `refund`."""
    return create_agent(
        ScriptedPaymentsModel(),
        tools=[lookup_order, refund],
        system_prompt=SYSTEM_PROMPT,
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"refund": True})],
        name=AGENT_NAME,
    )


AGENTS = {AGENT_NAME: bench_payments_agent}

if os.environ.get("BENCH_PROFILE") == "1":
    from bench import profile_hooks as _profile_hooks

    _profile_hooks.install()
