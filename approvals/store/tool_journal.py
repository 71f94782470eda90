"""The tool-call journal: each call a run's tools make is journalled before it runs and when it returns, so a
re-run replays it instead of running it twice, even across a worker's death."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import BindParameter

from approvals.models import utcnow
from approvals.store.audit_log import record_audit
from approvals.store.database import Database
from approvals.tables import runs, tool_calls

# How a call's start went: journalled now, journalled by an earlier attempt, or not at all (its run was stopped).
CallStart = Literal["started", "journalled", "stopped"]


class ToolCallRecord(NamedTuple):
    """One journalled tool call: finished (with the result to replay) or not."""

    tool: str
    finished: bool
    result: dict[str, Any] | None


# Statements a job runs at each tool call, built once: building them and their cache keys costs CPU on every call.
_THREAD: BindParameter[str] = bindparam("thread")
_NOW: BindParameter[datetime] = bindparam("now")
_TOOL_CALL = select(tool_calls.c.tool, tool_calls.c.finished_at, tool_calls.c.result).where(
    tool_calls.c.thread_id == _THREAD, tool_calls.c.task == bindparam("b_task"), tool_calls.c.tool_call_id == bindparam("b_call")
)
_TOOL_CALL_STARTED = insert(tool_calls)
_STOP_REQUESTED = select(runs.c.stop_requested_at).where(runs.c.thread_id == _THREAD)
_TOOL_CALL_FINISHED = (
    update(tool_calls)
    .where(
        tool_calls.c.thread_id == _THREAD,
        tool_calls.c.task == bindparam("b_task"),
        tool_calls.c.tool_call_id == bindparam("b_call"),
    )
    .values(finished_at=_NOW, result=bindparam("b_result"))
)


class ToolJournal:
    """At most once per tool call: what was started, what finished and with what result."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def tool_call(self, thread_id: str, task: str, tool_call_id: str) -> ToolCallRecord | None:
        """The journal entry of one call of one task, if it was ever started."""
        with self.db.engine.connect() as conn:
            row = conn.execute(_TOOL_CALL, {"thread": thread_id, "b_task": task, "b_call": tool_call_id}).first()
        return None if row is None else ToolCallRecord(row.tool, row.finished_at is not None, row.result)

    def tool_call_started(self, thread_id: str, task: str, tool_call_id: str, tool: str) -> CallStart:
        """Journal that a call is about to run, in one transaction with the check that nobody stopped its run:
        `started`; `journalled` if an earlier attempt journalled it; `stopped` (nothing journalled) if a person
        stopped the run."""
        try:
            # On disk before the tool runs, whatever else is not yet: after a power cut the call is in doubt
            # (put back to a person), never forgotten and run again.
            with self.db.writing(flushed=True) as conn:
                if conn.execute(_STOP_REQUESTED, {"thread": thread_id}).scalar() is not None:
                    return "stopped"
                conn.execute(
                    _TOOL_CALL_STARTED,
                    {"thread_id": thread_id, "task": task, "tool_call_id": tool_call_id, "tool": tool, "started_at": utcnow()},
                )
        except IntegrityError:
            return "journalled"
        return "started"

    def tool_call_finished(self, thread_id: str, task: str, tool_call_id: str, result: dict[str, Any] | None) -> None:
        """Journal what a call returned, to replay instead of running it again."""
        with self.db.writing() as conn:
            conn.execute(
                _TOOL_CALL_FINISHED,
                {"thread": thread_id, "b_task": task, "b_call": tool_call_id, "now": utcnow(), "b_result": result},
            )

    def tool_call_forgotten(self, thread_id: str, task: str, tool_call_id: str) -> None:
        """Drop a journal entry: the call paused (an interrupt inside the tool) before doing anything."""
        with self.db.writing() as conn:
            conn.execute(
                delete(tool_calls).where(
                    tool_calls.c.thread_id == thread_id, tool_calls.c.task == task, tool_calls.c.tool_call_id == tool_call_id
                )
            )

    def tool_call_uncertain(self, thread_id: str, task: str, tool_call_id: str, tool: str) -> None:
        """A re-run found the call started and never finished: it is not run again; keep that on record, finished with
        no result, so that a later run of its task replays that (LangGraph may drop the task's writes when another
        call of its step is cut off) instead of asking about it again."""
        with self.db.writing() as conn:
            now = utcnow()
            conn.execute(
                update(tool_calls)
                .where(tool_calls.c.thread_id == thread_id, tool_calls.c.task == task, tool_calls.c.tool_call_id == tool_call_id)
                .values(uncertain_at=now, finished_at=now, result=None)
            )
            record_audit(
                conn, "tool_call_uncertain", None, None, {"thread_id": thread_id, "tool": tool, "tool_call_id": tool_call_id}
            )
