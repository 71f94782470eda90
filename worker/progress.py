"""A run's progress: the tools it called and what they returned, handed to the front-end as the run streams
its steps, at most once a second counting from the job's start, and once more as the job ends. A job that
takes less than a second shows it once, at its end: a front-end round trip between its first steps would
hold up its tool to show what the next update shows anyway.

A front-end may have nowhere to show progress before the run's first request is shown (Slack: the
request's thread); steps from before are shown then, so approvers see what led to the request. Off for an
agent registered with `agent(graph, progress=False)`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from approvals.frontend import FrontEnd, FrontEndUnavailable, RunProgressed, Step
from approvals.models import Run
from approvals.store import Store

log = logging.getLogger(__name__)

# How often the message may change, and how much of the run it shows.
UPDATE_INTERVAL = 1.0
STEPS_SHOWN = 12


def progress_steps(messages: list[BaseMessage]) -> list[Step]:
    """Each tool call since the run's request, with its result once it has one."""
    start = max((n for n, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1) + 1
    steps: list[Step] = []
    # Positions by call id, in order: a model may give several calls one id, each answered in turn.
    pending: dict[str, list[int]] = {}
    for message in messages[start:]:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                args = json.dumps(call.get("args") or {}, ensure_ascii=False, default=str)
                pending.setdefault(str(call.get("id")), []).append(len(steps))
                steps.append(Step(tool=call["name"], args=args))
        elif isinstance(message, ToolMessage):
            text = message.text if hasattr(message, "text") else str(message.content)
            failed = message.status == "error"
            waiting = pending.get(str(message.tool_call_id))
            position = waiting.pop(0) if waiting else None
            if position is not None:
                steps[position] = steps[position].model_copy(update={"result": text, "failed": failed})
            else:
                steps.append(Step(tool=message.name or "tool", args="", result=text, failed=failed))
    return steps


class RunProgress:
    """Follows one job's steps of a run and keeps its progress message current."""

    def __init__(
        self,
        store: Store,
        front_end: FrontEnd,
        run: Run,
        messages: list[BaseMessage],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.front_end = front_end
        # The job's run: which run the steps are of (a front-end reads how it stands now, e.g. whether it was stopped).
        self.run = run
        self.thread_id = run.thread_id
        self.messages = list(messages)
        self.clock = clock
        self._shown: list[Step] | None = None
        self._last = clock()
        # Known to have no thread yet: only this job's first request makes one (and flushes right after), so
        # steps before it need not ask the database again.
        self._threadless = False

    def on_step(self, update: dict[str, Any]) -> None:
        """A streamed step (`{node: its update}`): keep its messages, and refresh the message when it may."""
        for node_update in update.values():
            if isinstance(node_update, dict):
                for message in node_update.get("messages") or []:
                    if isinstance(message, BaseMessage):
                        self._keep(message)
        if not self._threadless and self.clock() - self._last >= UPDATE_INTERVAL:
            self.flush()

    def _keep(self, message: BaseMessage) -> None:
        # A message written again under its id replaces the old one, as LangGraph's add_messages does.
        for n, old in enumerate(self.messages):
            if message.id and old.id == message.id:
                self.messages[n] = message
                return
        self.messages.append(message)

    def flush(self) -> None:
        """Show the run's progress now, if something changed and the front-end has somewhere to show it."""
        steps = progress_steps(self.messages)
        if not steps or steps == self._shown:
            return
        try:
            shown = self.front_end.tell(RunProgressed(run=self.run, steps=steps[-STEPS_SHOWN:], total=len(steps)))
        except FrontEndUnavailable:
            log.warning("could not show the progress of run %s", self.thread_id, exc_info=True)
            return
        # Nowhere to show it until the run's first request is shown: steps until then need not ask again.
        self._threadless = not shown
        if shown:
            self._shown = steps
            self._last = self.clock()
