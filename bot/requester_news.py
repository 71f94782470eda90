"""The requester is told by DM of each decision on their run's requests and of how the run ended, when they started
it from Slack (`/countersign run`: the run has a requester and a channel it was asked from), unless they said
`/countersign notify off`.

Each decision is told once: the process that tells it claims it first in the placements (a redraw by another
process, or a later one, finds it claimed); so is the outcome, which `RunEnded` may say again after a worker died
before noting it told. A DM Slack refuses is logged: the decision and the outcome stand, and the run's thread has them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk.errors import SlackApiError

from approvals.models import ApprovalRequest, Ending, Run
from approvals.store.people import People
from bot.direct_messages import DirectMessages
from bot.dm_messages import decisions_text, ending_dm_text
from bot.slack_places import SlackPlaces

log = logging.getLogger(__name__)


def asked_from_slack(run: Run) -> bool:
    """Whether someone started the run from Slack, where they can be told by DM."""
    return bool(run.requested_by and run.reply_channel)


class RequesterNews:
    """Tells the person who started a run what became of it."""

    def __init__(self, dms: DirectMessages, places: SlackPlaces, people: People) -> None:
        self.dms = dms
        self.places = places
        self.people = people

    def decided(self, approval: ApprovalRequest) -> None:
        """Tell the requester of the decisions on `approval` they were not told of yet (not their own)."""
        run = approval.run
        if not asked_from_slack(run) or run.requested_by is None:
            return
        decided = [
            position
            for position, action in enumerate(approval.actions)
            if action.decision is not None and action.decision.decided_by != run.requested_by
        ]
        told = set(self.places.told(approval.id, decided)) if decided else set()
        untold = [position for position in decided if position not in told]
        if not untold:
            return
        # Claimed even when they said `notify off`: turning it on later does not bring back old news.
        claimed = [position for position in untold if self.places.claim_told(approval.id, position)]
        if not claimed or not self.people.get(run.requested_by).told_of_runs:
            return
        link = self.places.permalinks([approval.id]).get(approval.id)
        self._send(run.requested_by, decisions_text(approval, claimed, link))

    def ended(self, run: Run, ending: Ending, link: Callable[[], str | None]) -> None:
        """Tell the requester how their run ended (`link` finds its thread's, asked only when they are told)."""
        if not asked_from_slack(run) or run.requested_by is None or not self.people.get(run.requested_by).told_of_runs:
            return
        if not self.places.claim_ending_told(run.thread_id):
            return
        self._send(run.requested_by, ending_dm_text(run, ending, link()))

    def _send(self, user: str, text: str) -> None:
        try:
            self.dms.send(user, {"text": text})
        except SlackApiError as error:
            log.info("could not tell %s by DM: %s", user, error.response.get("error"))
