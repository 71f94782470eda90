"""Slack as a front-end of the core: each event becomes a message posted or updated, and where it landed is
noted in the store (the Slack references this front-end owns)."""

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
from bot.run_messages import ending_text, notice_text, progress_text
from bot.slack_client import create_slack_client
from bot.user_groups import UserGroupDirectory

log = logging.getLogger(__name__)


class SlackFrontEnd:
    """Shows the core's events in Slack through a `SlackNotifier`."""

    def __init__(self, store: Store, notifier: SlackNotifier) -> None:
        self.store = store
        self.notifier = notifier
        # Progress messages this process posted, by thread: the run it was handed may predate the post.
        self._progress: dict[str, str] = {}

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
        posted = self.notifier.post_request(event.approval, event.earlier)
        self.store.runs.set_run_thread(event.approval.thread_id, posted.channel, posted.ts)
        self.store.requests.set_message(event.approval.id, posted.channel, posted.ts, self.notifier.permalink(posted))
        return True

    @_show.register
    def _changed(self, event: RequestChanged) -> bool:
        self.notifier.update_request(event.approval, event.earlier)
        return True

    @_show.register
    def _escalated(self, event: RequestEscalated) -> bool:
        posted = self.notifier.post_escalation(event.approval, event.stage, event.earlier)
        self.store.due.set_escalation_message(event.approval.id, event.stage, posted.ts)
        return True

    @_show.register
    def _reminder(self, event: DeadlineNear) -> bool:
        return self.notifier.post_reminder(event.approval)

    @_show.register
    def _progress_of(self, event: RunProgressed) -> bool:
        run = event.run
        if not (run.slack_channel and run.slack_thread_ts):
            return False  # shown once the run's first request makes its thread
        text = progress_text(event)
        ts = self._progress.get(run.thread_id) or run.progress_ts
        if ts:
            self.notifier.update_progress(run, ts, text)
        else:
            ts = self.notifier.post_progress(run, text).ts
            self.store.runs.set_progress_message(run.thread_id, ts)
            self._progress[run.thread_id] = ts
        return True

    @_show.register
    def _ended(self, event: RunEnded) -> bool:
        return self.notifier.post_outcome(event.run, ending_text(event.run, event.ending))

    @_show.register
    def _notice(self, event: Notice) -> bool:
        return self.notifier.post_outcome(event.run, notice_text(event))


def slack_front_end(settings: Settings, store: Store) -> SlackFrontEnd:
    """The Slack front-end the settings describe (its client retries as `bot.slack_client` sets up)."""
    client = create_slack_client(settings)
    user_groups = UserGroupDirectory(client, settings.usergroup_cache_seconds)
    return SlackFrontEnd(store, SlackNotifier(client, settings.approvals_channel, user_groups))
