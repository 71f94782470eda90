"""Where Slack shows things: a run's thread, its progress message, each request's messages and their links.
These are the Slack front-end's own references, kept in the core's placements under front-end `slack`."""

from __future__ import annotations

import contextlib
import uuid
from collections import OrderedDict
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from approvals.models import ApprovalRequest
from approvals.store import Store
from approvals.store.placements import dm_subject, progress_subject, request_subject, run_subject

SLACK = "slack"
# Runs whose thread and progress message a process keeps at hand (the ones it is working on).
REMEMBERED = 1024

T = TypeVar("T")


class Posted(NamedTuple):
    """Where a message landed."""

    channel: str
    ts: str


class Shown(NamedTuple):
    """Where a request is shown: every message, what became of its DMs (its first post's), its DMs by person, and
    the decision (a status) every one of them was last seen to show, if any."""

    messages: list[Posted]
    reach: tuple[Posted, dict[str, Any]] | None
    dms: dict[str, Posted]
    decision: str | None = None


class SlackPlaces:
    """Reads and notes where Slack showed a run and its requests."""

    def __init__(self, store: Store) -> None:
        self.placements = store.placements
        # A run's thread and progress message never move once noted, so what this process read or noted
        # stands (a progress update each second needs no read). Bounded: the processes live for many runs.
        self._threads: OrderedDict[str, Posted] = OrderedDict()
        self._progress: OrderedDict[str, str] = OrderedDict()

    def thread(self, thread_id: str) -> Posted | None:
        """The run's Slack thread (its first request's message), once there is one."""
        if thread_id not in self._threads:
            found = _posted(self.placements.of(SLACK, run_subject(thread_id)))
            if found is None:
                return None
            _remember(self._threads, thread_id, found)
        return self._threads[thread_id]

    def keep_thread(self, thread_id: str, posted: Posted, conn: Connection | None = None) -> Posted:
        """Make `posted` the run's thread unless it has one; the thread that stands."""
        noted = self.placements.note(SLACK, run_subject(thread_id), posted._asdict(), first_only=True, conn=conn)
        return _remember(self._threads, thread_id, _posted(noted) or posted)

    def progress(self, thread_id: str) -> str | None:
        """The ts of the run's progress message, once posted."""
        if thread_id not in self._progress:
            ref = self.placements.of(SLACK, progress_subject(thread_id))
            if ref is None:
                return None
            _remember(self._progress, thread_id, str(ref["ts"]))
        return self._progress[thread_id]

    def keep_progress(self, thread_id: str, posted: Posted, text: str | None = None) -> None:
        """Note the run's progress message, which later steps update, and the `text` it shows while it offers to stop
        the run (a stop while the run waits shows that text again, without that offer)."""
        self.placements.note(SLACK, progress_subject(thread_id), {**posted._asdict(), "text": text})
        _remember(self._progress, thread_id, posted.ts)

    def progress_shown(self, thread_id: str) -> tuple[Posted, str | None] | None:
        """The run's progress message and the text noted with it, read afresh."""
        ref = self.placements.of(SLACK, progress_subject(thread_id))
        posted = _posted(ref)
        return (posted, ref.get("text")) if posted and ref else None

    def request(self, approval_id: str, stage: int = 0) -> Posted | None:
        """A request's message as first posted (stage 0), or as re-posted at an escalation stage."""
        return _posted(self.placements.of(SLACK, request_subject(approval_id, stage)))

    def keep_request(
        self,
        approval_id: str,
        posted: Posted,
        permalink: str | None = None,
        stage: int = 0,
        reach: dict[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Note a request's message (and, for the first, its link, which lists show, and what became of its DMs,
        which its redraws say again: `bot.direct_messages.Reach`)."""
        ref = {**posted._asdict(), "permalink": permalink, **({"reach": reach} if reach else {})}
        self.placements.note(SLACK, request_subject(approval_id, stage), ref, conn=conn)

    def reach(self, approval_id: str) -> tuple[Posted, dict[str, Any]] | None:
        """A request's first channel post and what became of its DMs, when it was sent by DM."""
        return _reach_of(self.placements.of(SLACK, request_subject(approval_id)))

    def claim_told(self, approval_id: str, position: int) -> bool:
        """Claim telling the requester of the decision on a call: True once, for the one process that tells it (a
        redraw by another process, or a later one, finds it claimed)."""
        return self._claim(_told_subject(approval_id, position))

    def claim_ending_told(self, thread_id: str) -> bool:
        """Claim telling the requester how the run ended: True once (its ending may be said again, see `RunEnded`)."""
        return self._claim(f"ended:{thread_id}")

    def claim_refusal(self, thread_id: str, error: str, channel: str) -> bool:
        """Claim telling people that Slack refuses the run's posts in `channel` with `error`: True once."""
        return self._claim(f"refused:{thread_id}:{error}:{channel}")

    def _claim(self, subject: str) -> bool:
        mine = {"claim": uuid.uuid4().hex}
        try:
            standing = self.placements.note(SLACK, subject, mine, first_only=True)
        except IntegrityError:
            return False  # another process noted it at the same moment
        return standing == mine

    def told(self, approval_id: str, positions: list[int]) -> list[int]:
        """Of `positions`, the calls whose decision the requester was already told of."""
        found = self.placements.of_many(SLACK, [_told_subject(approval_id, position) for position in positions])
        return [position for position in positions if _told_subject(approval_id, position) in found]

    def note_reach(self, approval_id: str, reach: dict[str, Any]) -> None:
        """Note again what became of a request's DMs, beside its first channel post (its link kept)."""
        subject = request_subject(approval_id)
        ref = self.placements.of(SLACK, subject)
        if ref is not None:
            self.placements.note(SLACK, subject, {**ref, "reach": reach})

    def keep_dm(self, approval_id: str, user_id: str, posted: Posted) -> None:
        """Note the request's message in `user_id`'s DM with the app."""
        self.placements.note(SLACK, dm_subject(approval_id, user_id), posted._asdict())

    def dms(self, approval_id: str) -> dict[str, Posted]:
        """The request's messages in people's DMs, by person."""
        prefix = dm_subject(approval_id, "")
        found = self.placements.with_prefix(SLACK, prefix)
        return {subject.removeprefix(prefix): posted for subject, ref in found.items() if (posted := _posted(ref))}

    def messages(self, approval: ApprovalRequest) -> list[Posted]:
        """Every message that shows the request: the first post and each escalation's, in stage order, then its DMs."""
        return self.shown(approval).messages

    def note_decision_shown(self, approval: ApprovalRequest) -> None:
        """Note that every message of the decided `approval` now shows its decision."""
        with contextlib.suppress(IntegrityError):  # noted by another process drawing it at the same moment
            self.placements.note(SLACK, _decision_subject(approval.id), {"status": approval.status.value}, first_only=True)

    def shown(self, approval: ApprovalRequest) -> Shown:
        """`messages`, `reach` (what became of its DMs), its DMs by person and the decision they show, from one read."""
        subjects = [request_subject(approval.id, stage) for stage in (0, *(e.stage for e in approval.escalations))]
        # One read for all of the request's subjects (another id that starts the same is filtered out below).
        found = self.placements.with_prefix(SLACK, request_subject(approval.id))
        posts = [posted for subject in subjects if (posted := _posted(found.get(subject))) is not None]
        prefix = dm_subject(approval.id, "")
        dms = {
            subject.removeprefix(prefix): posted
            for subject, ref in found.items()
            if subject.startswith(prefix) and (posted := _posted(ref))
        }
        decision = found.get(_decision_subject(approval.id))
        reach = _reach_of(found.get(request_subject(approval.id)))
        return Shown([*posts, *dms.values()], reach, dms, str(decision["status"]) if decision else None)

    def permalinks(self, approval_ids: list[str]) -> dict[str, str]:
        """The links to these requests' first messages (those Slack gave one for)."""
        found = self.placements.of_many(SLACK, [request_subject(approval_id) for approval_id in approval_ids])
        links = {subject.removeprefix("request:"): ref.get("permalink") for subject, ref in found.items()}
        return {approval_id: str(link) for approval_id, link in links.items() if link}


def _remember(cache: OrderedDict[str, T], key: str, value: T) -> T:
    """Keep `value` under `key`, forgetting the oldest entries past `REMEMBERED`."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > REMEMBERED:
        cache.popitem(last=False)
    return value


def _told_subject(approval_id: str, position: int) -> str:
    # Not under `request:`, whose prefix finds a request's messages.
    return f"told:{approval_id}:{position}"


def _decision_subject(approval_id: str) -> str:
    # Under `request:`, so that the one read of a request's messages finds it too.
    return f"{request_subject(approval_id)}:decision"


def _reach_of(ref: dict[str, Any] | None) -> tuple[Posted, dict[str, Any]] | None:
    """A first channel post's place and what became of its DMs, when it was sent by DM."""
    posted = _posted(ref)
    return (posted, dict(ref["reach"])) if posted and ref and ref.get("reach") else None


def _posted(ref: dict[str, object] | None) -> Posted | None:
    return Posted(str(ref["channel"]), str(ref["ts"])) if ref else None
