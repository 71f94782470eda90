"""At most once, unless a person says again: every tool call a registered graph's ToolNode executes is journalled in SQL.

LangGraph re-runs a task whose writes were not saved when its worker died, so a tool that ran just
before the crash would run again. The journal stops that: a call is recorded as started before the
tool runs and as finished (with its result) after. A re-run of the same task (same checkpoint
namespace, same call id) replays a finished call's result instead of running the tool. A call that started
and never finished is in doubt: Countersign cannot tell whether it took effect, so it puts it back to a person
(`worker.in_doubt`: Run it again / Don't; the run waits), unless the agent declared the tool idempotent.

Every call runs with a stable idempotency key in its config (`countersign_idempotency_key`, the same for each
attempt of the call), which a tool can pass on (a payment API's idempotency header).

Before each call, the journal checks that nobody stopped the run: a stopped run's next call does not start
(`RunHalted` ends the job's graph there), so a run stopped while it works makes no further tool call.

Calls run with no journal scope (a graph invoked outside a worker job) run as they are."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langchain_core.messages import ToolMessage
from langgraph.errors import GraphBubbleUp
from langgraph.prebuilt import ToolNode
from langgraph.pregel import Pregel

from approvals.store import Store
from worker import in_doubt, metrics
from worker.tool_node_internals import wrap_tool_execution

log = logging.getLogger(__name__)


@dataclass
class JournalScope:
    """The journal of one worker job: which thread it runs, and which of its agent's tools are idempotent."""

    store: Store
    thread_id: str
    idempotent: frozenset[str] = frozenset()
    # When a person approved the call(s) this job delivers: the first tool to start is timed from it.
    clicked_at: datetime | None = None


_scope: ContextVar[JournalScope | None] = ContextVar("countersign_tool_journal", default=None)


@contextmanager
def journalling(store: Store, thread_id: str, idempotent: frozenset[str] = frozenset()) -> Iterator[JournalScope]:
    """Journal the tool calls the graph makes in this block (LangGraph's tasks inherit the context)."""
    scope = JournalScope(store, thread_id, idempotent)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def uncertain_text(tool: str) -> str:
    """What the agent reads instead of a result when a call's first attempt died while it ran."""
    return (
        f"Not run again: the worker stopped while `{tool}` was running, so Countersign cannot tell whether it "
        "took effect. Check its effect before calling it again."
    )


def _stored(result: Any) -> dict[str, Any] | None:
    if isinstance(result, ToolMessage):
        return {"content": result.content, "status": result.status}
    return None  # a Command cannot be replayed; a re-run of the task treats the call as uncertain


def _replay(record_result: dict[str, Any] | None, call: dict[str, Any]) -> ToolMessage:
    if record_result is None:
        return ToolMessage(content=uncertain_text(call["name"]), name=call["name"], tool_call_id=call["id"], status="error")
    if "error" in record_result:
        text = f"`{call['name']}` failed and was not run again: {record_result['error']}"
        return ToolMessage(content=text, name=call["name"], tool_call_id=call["id"], status="error")
    return ToolMessage(
        content=record_result["content"],
        name=call["name"],
        tool_call_id=call["id"],
        status=record_result.get("status", "success"),
    )


class RunHalted(Exception):
    """A person stopped the run: no tool call of it runs from here (raised where a call would start)."""


class _Call:
    """One execution of a tool call through the journal."""

    def __init__(self, scope: JournalScope, call: dict[str, Any], config: dict[str, Any]) -> None:
        self.scope = scope
        self.call = call
        self.task = str((config.get("configurable") or {}).get("checkpoint_ns") or "")
        self.key = (scope.thread_id, self.task, str(call.get("id") or ""))

    def before(self) -> ToolMessage | None:
        """None when the tool may run now; otherwise what to answer in its place."""
        store = self.scope.store
        start = store.journal.tool_call_started(*self.key, tool=self.call["name"])
        if start == "stopped":
            log.info("run %s was stopped; %s does not run", self.scope.thread_id, self.call["name"])
            raise RunHalted(self.scope.thread_id)
        if start == "started":
            if self.scope.clicked_at is not None:
                metrics.tool_started(self.scope.clicked_at)
                self.scope.clicked_at = None
            return None
        record = store.journal.tool_call(*self.key)
        if record is not None and record.finished:
            log.info("replaying %s (%s) from the journal instead of running it again", self.call["name"], self.key[2])
            return _replay(record.result, self.call)
        return self._in_doubt()

    def _in_doubt(self) -> ToolMessage | None:
        """The call started in a worker that died: run it again if its tool is idempotent or a person said so; tell
        the agent it was not if a person said Don't; raise `CallInDoubt` (the run waits) while nobody has answered."""
        store, name = self.scope.store, self.call["name"]
        if name in self.scope.idempotent:
            log.warning("tool call %s (%s) was cut off by a worker's death; idempotent, so it runs again", name, self.key)
            detail = {"thread_id": self.key[0], "tool": name, "tool_call_id": self.key[2], "idempotent": True}
            store.audit_log.audit("tool_call_rerun", None, None, detail)
            return None
        answer = in_doubt.answer_for(store, self.key, name, dict(self.call.get("args") or {}))
        if in_doubt.runs_again(store, answer):
            return None
        store.journal.tool_call_uncertain(*self.key, tool=name)
        return _replay(None, self.call)

    def with_key(self, config: dict[str, Any]) -> dict[str, Any]:
        """The tool's config with the call's idempotency key, which a tool reads to pass on."""
        configurable = {**(config.get("configurable") or {}), in_doubt.IDEMPOTENCY_KEY: in_doubt.call_key(self.key)}
        return {**config, "configurable": configurable}

    def paused(self) -> None:
        # An interrupt inside the tool: it stopped before acting; the resumed task runs it afresh.
        self.scope.store.journal.tool_call_forgotten(*self.key)

    def failed(self, error: BaseException) -> None:
        self.scope.store.journal.tool_call_finished(*self.key, {"error": f"{type(error).__name__}: {str(error)[:200]}"})

    def after(self, result: Any) -> None:
        self.scope.store.journal.tool_call_finished(*self.key, _stored(result))


def _journalled(execute: Callable[..., Any]) -> Callable[..., Any]:
    def run(request: Any, input_type: Any, config: dict[str, Any]) -> Any:
        scope = _scope.get()
        if scope is None or not request.tool_call.get("id"):
            return execute(request, input_type, config)
        call = _Call(scope, request.tool_call, config)
        answer = call.before()
        if answer is not None:
            return answer
        try:
            result = execute(request, input_type, call.with_key(config))
        except GraphBubbleUp:
            call.paused()
            raise
        except Exception as error:
            call.failed(error)
            raise
        call.after(result)
        return result

    return run


def _ajournalled(execute: Callable[..., Any]) -> Callable[..., Any]:
    async def run(request: Any, input_type: Any, config: dict[str, Any]) -> Any:
        scope = _scope.get()
        if scope is None or not request.tool_call.get("id"):
            return await execute(request, input_type, config)
        call = _Call(scope, request.tool_call, config)
        # The journal's SQL runs off the event loop: an async checkpointer's open write needs the loop to
        # commit, and a blocked loop would leave both waiting on SQLite's lock.
        answer = await asyncio.to_thread(call.before)
        if answer is not None:
            return answer
        try:
            result = await execute(request, input_type, call.with_key(config))
        except GraphBubbleUp:
            await asyncio.to_thread(call.paused)
            raise
        except Exception as error:
            await asyncio.to_thread(call.failed, error)
            raise
        await asyncio.to_thread(call.after, result)
        return result

    return run


def install(graph: Pregel[Any, Any, Any, Any]) -> None:
    """Journal every ToolNode of a compiled graph (the innermost step, beneath any middleware)."""
    for node in graph.nodes.values():
        tool_node = getattr(node, "bound", None)
        if isinstance(tool_node, Pregel):  # a compiled subgraph as a node
            install(tool_node)
        if isinstance(tool_node, ToolNode):
            wrap_tool_execution(tool_node, _journalled, _ajournalled)
