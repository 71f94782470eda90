"""Slack as a front-end of the core: each event becomes a message posted or updated, and where it landed is
noted as this front-end's own references (`bot.slack_places`)."""

from __future__ import annotations

import functools
import logging

from slack_sdk.errors import SlackApiError

from approvals.frontend import (
    DeadlineNear,
    Event,
    FrontEndUnavailable,
    Notice,
    RequestChanged,
    RequestEscalated,
    RequestToDecide,
    RunEnded,
    RunProgressed,
)
from approvals.settings import Settings
from approvals.store import Store
from bot.outbound import SlackNotifier
from bot.run_messages import ending_text, notice_text, progress_blocks, progress_text
from bot.slack_client import create_slack_client
from bot.slack_places import SlackPlaces
from bot.user_groups import UserGroupDirectory

log = logging.getLogger(__name__)


class SlackFrontEnd:
    """Shows the core's events in Slack through a `SlackNotifier`."""

    def __init__(self, store: Store, notifier: SlackNotifier) -> None:
        self.store = store
        self.notifier = notifier
        self.places = SlackPlaces(store)

    def tell(self, event: Event) -> bool:
        """Post or update the message for `event`; Slack's refusals become `FrontEndUnavailable`."""
        try:
            return self._show(event)
        except SlackApiError as error:
            raise FrontEndUnavailable(f"Slack answered {error.response.get('error')!r}") from error

    @functools.singledispatchmethod
    def _show(self, event: Event) -> bool:
        log.debug("Slack shows nothing for %s", type(event).__name__)
        return False

    @_show.register
    def _request(self, event: RequestToDecide) -> bool:
        approval = event.approval
        posted = self.notifier.post_request(approval, event.earlier, self.places.thread(approval.thread_id))
        self.places.keep_thread(approval.thread_id, posted)
        # The channel first: whoever finds the message noted finds whose members decide it.
        self.store.requests.set_channel(approval.id, posted.channel)
        self.places.keep_request(approval.id, posted, self.notifier.permalink(posted))
        return True

    @_show.register
    def _changed(self, event: RequestChanged) -> bool:
        self.notifier.update_request(event.approval, event.earlier, self.places.messages(event.approval))
        return True

    @_show.register
    def _escalated(self, event: RequestEscalated) -> bool:
        posted = self.notifier.post_escalation(event.approval, event.stage, event.earlier)
        self.places.keep_request(event.approval.id, posted, stage=event.stage)
        return True

    @_show.register
    def _reminder(self, event: DeadlineNear) -> bool:
        latest = self.places.request(event.approval.id, event.approval.stage) or self.places.request(event.approval.id)
        return self.notifier.post_reminder(event.approval, latest)

    @_show.register
    def _progress_of(self, event: RunProgressed) -> bool:
        thread = self.places.thread(event.run.thread_id)
        if thread is None:
            return False  # shown once the run's first request makes its thread
        text = progress_text(event)
        # The run as it stands now (stopped or ended: no Stop button), not as the progress follower first read it.
        blocks = progress_blocks(self.store.runs.get_run(event.run.thread_id), text)
        ts = self.places.progress(event.run.thread_id)
        if ts:
            self.notifier.update_progress(thread, ts, text, blocks)
        else:
            self.places.keep_progress(event.run.thread_id, self.notifier.post_progress(thread, text, blocks))
        return True

    @_show.register
    def _ended(self, event: RunEnded) -> bool:
        thread = self.places.thread(event.run.thread_id)
        return self.notifier.post_outcome(event.run, ending_text(event.run, event.ending), thread)

    @_show.register
    def _notice(self, event: Notice) -> bool:
        link = self.places.permalinks([event.approval_id]).get(event.approval_id) if event.approval_id else None
        return self.notifier.post_outcome(event.run, notice_text(event, link), self.places.thread(event.run.thread_id))


def slack_front_end(settings: Settings, store: Store) -> SlackFrontEnd:
    """The Slack front-end the settings describe (its client retries as `bot.slack_client` sets up)."""
    client = create_slack_client(settings)
    user_groups = UserGroupDirectory(client, settings.usergroup_cache_seconds)
    return SlackFrontEnd(store, SlackNotifier(client, settings.approvals_channel, user_groups))
