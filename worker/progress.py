"""A run's progress in its Slack thread: one message listing the tools it called and what they returned,
updated as the run streams its steps, at most once a second (well inside what `chat.update` allows)
counting from the job's start, and once more as the job ends. A job that takes less than a second
updates it once, at its end: an update between its first steps would hold up its tool (a Slack round
trip between the approval's delivery and the approved call) to show what the next update shows anyway.

The run has a thread once its first request is posted; steps from before are shown then, so approvers
see what led to the request. Off for an agent registered with `agent(graph, progress=False)`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from slack_sdk.errors import SlackApiError

from approvals.models import Run
from approvals.store import Store
from bot.formatting import escape, shorten
from bot.outbound import SlackNotifier

log = logging.getLogger(__name__)

# How often the message may change, and how much of the run it shows.
UPDATE_INTERVAL = 1.0
STEPS_SHOWN = 12
_ARGS_CHARS = 80
_RESULT_CHARS = 160


def progress_text(messages: list[BaseMessage]) -> str | None:
    """The progress message for a run's messages: each tool call since the request, with its result."""
    start = max((n for n, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1) + 1
    lines: list[str] = []
    # Positions by call id, in order: a model may give several calls one id, each answered in turn.
    pending: dict[str, list[int]] = {}
    for message in messages[start:]:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                args = json.dumps(call.get("args") or {}, ensure_ascii=False, default=str)
                pending.setdefault(str(call.get("id")), []).append(len(lines))
                lines.append(f"`{escape(call['name'])}` `{escape(shorten(args, _ARGS_CHARS))}` … not run yet")
        elif isinstance(message, ToolMessage):
            text = message.text if hasattr(message, "text") else str(message.content)
            result = escape(shorten(" ".join(text.split()), _RESULT_CHARS))
            mark = ":x:" if message.status == "error" else ":white_check_mark:"
            waiting = pending.get(str(message.tool_call_id))
            position = waiting.pop(0) if waiting else None
            if position is not None:
                lines[position] = lines[position].replace(" … not run yet", f" {mark} {result}")
            else:
                lines.append(f"`{escape(message.name or 'tool')}` {mark} {result}")
    if not lines:
        return None
    shown = lines[-STEPS_SHOWN:]
    hidden = len(lines) - len(shown)
    header = ":gear: *What the agent did so far*" + (f" (last {len(shown)} of {len(lines)} steps)" if hidden else "")
    return "\n".join([header, *(f"{n}. {line}" for n, line in enumerate(shown, start=hidden + 1))])


class RunProgress:
    """Follows one job's steps of a run and keeps its progress message current."""

    def __init__(
        self,
        store: Store,
        notifier: SlackNotifier,
        thread_id: str,
        messages: list[BaseMessage],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.thread_id = thread_id
        self.messages = list(messages)
        self.clock = clock
        self._shown: str | None = None
        self._last = clock()
        # The run as last read, once it has a thread (its channel and thread never change after, and only
        # this job, which holds the run's lease, sets its progress message).
        self._run: Run | None = None
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
        """Post or update the progress message now, if the run has a thread and something changed."""
        text = progress_text(self.messages)
        if text is None or text == self._shown:
            return
        run = self._run or self.store.runs.get_run(self.thread_id)
        self._threadless = not (run.slack_channel and run.slack_thread_ts)
        if self._threadless:
            return  # posted once the run's first request makes its thread
        self._run = run
        self._last = self.clock()
        try:
            if run.progress_ts:
                self.notifier.update_progress(run, run.progress_ts, text)
            else:
                posted = self.notifier.post_progress(run, text).ts
                self.store.runs.set_progress_message(self.thread_id, posted)
                self._run = run.model_copy(update={"progress_ts": posted})
            self._shown = text
        except SlackApiError:
            log.warning("could not update the progress of run %s", self.thread_id, exc_info=True)
