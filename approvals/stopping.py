"""Stopping a run: its requester or an admin ends it where it stands, whichever front-end they used.

`Stopping.stop` checks who asks and commits everything in one transaction (`store.runs.stop`): the run ends
`halted` with who stopped it and why, each of its pending requests is withdrawn (no resume is owed for it),
and the audit log has a `run_stopped` row (and a `withdrawn` row per request). Nothing after the run's pause
runs: the dispatcher owes a stopped run no resume, a worker checks the stop before each tool call and stores no
new request for it. The front-end answers the person once `stop` returns (record, then answer), then calls
`announce`, which redraws the withdrawn requests, tells front-ends that a run which waited on them goes no further
(a job that was running tells it as it ends), and tells how the run ended. When any of that fails, a worker tells it
all again (`tell_stop_again`), where it was not shown yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from approvals.errors import ApprovalNotFound, CountersignError
from approvals.frontend import Event, FrontEnd, RequestChanged, RunEnded, RunStopped
from approvals.models import API_THREAD_PREFIX, Ending, Run, RunStatus, Status
from approvals.store import Store

log = logging.getLogger(__name__)

# How long the front-end that stopped a run has to tell its ending before a worker tells it instead.
TELL_AFTER = timedelta(seconds=30)


class RunNotFound(CountersignError):
    """No run has this id (nor has a request of this id a run)."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"there is no run `{ref}` (a run's id is on its progress message and its requests).")
        self.ref = ref


class NotAllowedToStop(CountersignError):
    """Only the run's requester and the admins may stop a run."""

    def __init__(self, run: Run) -> None:
        who = "the person who asked for it and " if run.requested_by else ""
        super().__init__(f"only {who}Countersign's admins may stop run `{run.thread_id}`.")
        self.run = run


class RunAlreadyEnded(CountersignError):
    """The run ended (or was stopped) before: there is nothing left to stop."""

    def __init__(self, run: Run) -> None:
        how = "it was stopped" if run.stop_requested_at else {RunStatus.FAILED: "it failed"}.get(run.status, "it finished")
        super().__init__(f"run `{run.thread_id}` has already ended ({how}), so there is nothing to stop.")
        self.run = run


class NotStoppable(CountersignError):
    """A run asked over the approval API: no agent runs on it here; its caller waits on its request."""

    def __init__(self, run: Run) -> None:
        super().__init__(
            f"run `{run.thread_id}` was asked over the approval API, so its caller decides what runs: reject its request instead."
        )
        self.run = run


class Stopped(NamedTuple):
    """A committed stop: the run as it now stands, and the requests it withdrew."""

    run: Run
    withdrawn: list[str]


@dataclass(eq=False)
class Stopping:
    """Stops runs for any front-end, and tells front-ends what a stop changed."""

    store: Store
    # Whether a person is one of Countersign's admins (who may stop any run).
    is_admin: Callable[[str], bool]
    front_end: FrontEnd | None = None
    tell_after: timedelta = TELL_AFTER

    def find(self, ref: str) -> Run:
        """The run a person names: by its id (its thread id), or by the id of one of its requests."""
        ref = ref.strip().strip("`")
        try:
            return self.store.runs.get_run(ref)
        except KeyError:
            pass
        try:
            return self.store.runs.get_run(self.store.requests.thread_of(ref))
        except (ApprovalNotFound, KeyError):
            raise RunNotFound(ref) from None

    def check(self, run: Run, who: str) -> None:
        """Raise what forbids `who` to stop `run` now (`RunAlreadyEnded`, `NotAllowedToStop`)."""
        if run.stop_requested_at is not None or run.status in (RunStatus.DONE, RunStatus.FAILED):
            raise RunAlreadyEnded(run)
        if who != run.requested_by and not self.is_admin(who):
            raise NotAllowedToStop(run)
        if run.thread_id.startswith(API_THREAD_PREFIX):
            raise NotStoppable(run)

    def stop(self, thread_id: str, who: str, reason: str | None = None) -> Stopped:
        """Check and commit the stop (see the module docstring); raises what forbids it, `RunAlreadyEnded` when the run
        ended first."""
        run = self.store.runs.get_run(thread_id)
        self.check(run, who)
        withdrawn = self.store.runs.stop(thread_id, who, (reason or "").strip() or None, self.tell_after)
        if withdrawn is None:
            raise RunAlreadyEnded(self.store.runs.get_run(thread_id))
        return Stopped(self.store.runs.get_run(thread_id), withdrawn)

    def announce(self, stopped: Stopped, *, again: bool = False) -> None:
        """Redraw each withdrawn request, tell front-ends the run goes no further and how it ended, then note it told.
        What fails is logged, and a worker tells it all `again` later (when what fails raises, for its retry)."""
        if self.front_end is None:
            return
        run = stopped.run
        told = True
        for event in self._events(stopped, again):
            try:
                self.front_end.tell(event)
            except Exception:
                if again:
                    raise
                log.exception("run %s was stopped; could not tell %s; a worker will", run.thread_id, type(event).__name__)
                told = False
        if told:
            self.store.runs.outcome_posted(run.thread_id)

    def _events(self, stopped: Stopped, again: bool) -> Iterator[Event]:
        for approval_id in stopped.withdrawn:
            approval = self.store.requests.get(approval_id)
            # Told again, a withdrawal already drawn is not drawn twice.
            yield RequestChanged(approval=approval, earlier=self.store.lists.decided_before(approval), unless_shown=again)
        run = stopped.run
        if stopped.withdrawn:  # else a job of the run was running, and draws its progress as it ends
            yield RunStopped(run=run)
        yield RunEnded(run=run, ending=run.ending or Ending(kind="halted", decided_by=run.stop_requested_by), again=again)


def tell_stop_again(store: Store, front_end: FrontEnd, run: Run) -> None:
    """For a worker, when the front-end that stopped `run` did not note it told: tell what the stop changed again,
    raising what fails."""
    withdrawn = [r.id for r in store.lists.requests_for_thread(run.thread_id) if r.status is Status.WITHDRAWN]
    Stopping(store, lambda _who: False, front_end).announce(Stopped(run, withdrawn), again=True)
