"""Slack as a front-end of the core: each event becomes a message posted or updated, and where it landed is
noted as this front-end's own references (`bot.slack_places`)."""

from __future__ import annotations

import functools
import logging
from typing import Any

from slack_sdk.errors import SlackApiError

from approvals.frontend import (
    DeadlineNear,
    Event,
    FrontEndUnavailable,
    Notice,
    RequestChanged,
    RequestEscalated,
    RequestHandedOver,
    RequestToDecide,
    RunEnded,
    RunProgressed,
    RunStopped,
    StandInNamed,
)
from approvals.models import ApprovalRequest, Page
from approvals.settings import Settings
from approvals.store import Store
from bot.direct_messages import DirectMessages, Reach, notify_of
from bot.dm_messages import dm_escalated_text, dm_reminder_text, handed_over_line, handed_over_thread_line
from bot.outbound import SlackNotifier
from bot.request_message import request_message
from bot.requester_news import RequesterNews
from bot.run_messages import ending_text, notice_text, progress_blocks, progress_text, stoppable
from bot.slack_client import create_slack_client
from bot.slack_errors import accepted, counted, refusal_of, reposted_text, what_to_fix
from bot.slack_places import Posted, SlackPlaces
from bot.user_groups import UserGroupDirectory

log = logging.getLogger(__name__)


class SlackFrontEnd:
    """Shows the core's events in Slack through a `SlackNotifier`."""

    def __init__(self, store: Store, notifier: SlackNotifier, admins: list[str] | None = None) -> None:
        self.store = store
        self.notifier = notifier
        # Told what to fix when a run has nobody who asked for it from Slack (user ids; handles of groups skipped).
        self.admins = [a for a in admins or [] if not a.startswith(("@", "S"))]
        self.places = SlackPlaces(store)
        self.dms = DirectMessages(notifier.client, notifier.user_groups, store.people)
        self.requester = RequesterNews(self.dms, self.places, store.people)

    def tell(self, event: Event) -> bool:
        """Post or update the message for `event`; Slack's refusals (and a broken connection) become
        `FrontEndUnavailable`, lasting when a person must act first, who is then told what to do, once."""
        try:
            shown = self._show(event)
        except (SlackApiError, OSError) as error:
            refusal = refusal_of(error)
            if refusal is None:
                raise
            counted(refusal)
            if refusal.kind == "channel" and isinstance(event, RequestToDecide):
                channel = self.notifier.channel_for(event.approval, self.places.thread(event.approval.thread_id))
                self._tell_what_to_fix(event.approval, refusal.error, channel)
            elif refusal.kind == "channel" and isinstance(event, RequestEscalated):
                stage = next(e for e in event.approval.escalations if e.stage == event.stage)
                self._tell_what_to_fix(event.approval, refusal.error, stage.channel)
            raise FrontEndUnavailable(
                f"Slack answered {refusal.error!r}", lasting=refusal.lasting, reason=refusal.error
            ) from error
        accepted()
        return shown

    def _tell_what_to_fix(self, approval: ApprovalRequest, error: str, channel: str) -> None:
        """Tell the run's requester (or, for a run nobody asked for from Slack, the admins) by DM why its request is
        not posted in `channel` and what to do; once per run, refusal and channel, however often it is tried again."""
        if not self.places.claim_refusal(approval.thread_id, error, channel):
            return
        run = approval.run
        people = [run.requested_by] if run.requested_by and run.reply_channel else self.admins
        text = what_to_fix(error, channel, approval.gate.rule, approval.action.tool)
        for person in people:
            try:
                self.dms.send(person, {"text": text})
            except (SlackApiError, OSError):
                log.warning("could not tell %s that Slack refused %s in %s", person, error, channel, exc_info=True)

    @functools.singledispatchmethod
    def _show(self, event: Event) -> bool:
        log.debug("Slack shows nothing for %s", type(event).__name__)
        return False

    @_show.register
    def _request(self, event: RequestToDecide) -> bool:
        approval = event.approval
        reach = self._send_by_dm(approval, event.earlier)
        posted, link = self.notifier.post_request(approval, event.earlier, self.places.thread(approval.thread_id), reach)
        noted = reach.model_dump() if reach else None
        # One transaction: whoever finds the message noted finds the channel whose members decide it.
        with self.store.db.writing() as conn:
            self.places.keep_thread(approval.thread_id, posted, conn)
            self.store.requests.set_channel(approval.id, posted.channel, conn)
            self.places.keep_request(approval.id, posted, link, reach=noted, conn=conn)
        return True

    def _send_by_dm(self, approval: ApprovalRequest, earlier: Page) -> Reach | None:
        """Send the request to each person it names whose rule says `dm` or `both` (None: nobody to send it to, so
        the channel post is all there is). Sent before the channel post, which says who has it; a retry after that
        post failed sends nobody the request twice."""
        notify = notify_of(approval)
        if notify == "channel":
            return None
        named = self.dms.named(approval)
        if not named.users and not named.unresolved:
            return None
        already = self.places.dms(approval.id)
        reached, unreached = self.dms.send_each([u for u in named.users if u not in already], request_message(approval, earlier))
        for user, posted in reached.items():
            self.places.keep_dm(approval.id, user, posted)
        return Reach(notify=notify, asked=sorted({*already, *reached}), unreached={**named.unresolved, **unreached})

    def _reach(self, approval_id: str) -> tuple[Posted, Reach] | None:
        return _as_reach(self.places.reach(approval_id))

    @_show.register
    def _changed(self, event: RequestChanged) -> bool:
        approval = event.approval
        try:
            shown = self.places.shown(approval)
            if event.unless_shown and shown.decision == approval.status.value:
                return True
            reach = self._reach_now(approval, event.earlier, _as_reach(shown.reach), shown.dms)
            gone = self.notifier.update_request(approval, event.earlier, shown.messages, reach)
            if gone:
                self._post_again(event, gone, reach)
            if not approval.is_pending:  # noted at once: whoever draws it next skips it (the requester is told apart)
                self.places.note_decision_shown(approval)
        finally:
            self.requester.decided(approval)
        if approval.is_pending:
            self._catch_up(event)
        return True

    def _catch_up(self, event: RequestChanged) -> None:
        """Draw the request again if it changed while its pending state was drawn: that draw may have landed after
        another process drew the change (a decision), which nothing would then draw again (whoever comes second
        skips a decision already drawn)."""
        now = self.store.requests.get(event.approval.id)
        if request_message(now, event.earlier) != request_message(event.approval, event.earlier):
            self._changed(RequestChanged(approval=now, earlier=event.earlier))

    def _reach_now(
        self, approval: ApprovalRequest, earlier: Page, reach: tuple[Posted, Reach] | None, already: dict[str, Posted]
    ) -> tuple[Posted, Reach] | None:
        """What the request's channel post says of its DMs, by how its calls' rules reach their deciders now (an edit
        may have moved a call under another rule); a pending request is first sent to each person it names by DM now
        who was never sent it (`already`: who has it), and who has it is noted beside the post."""
        notify = notify_of(approval)
        if reach is not None and reach[1].notify != notify:
            reach = (reach[0], reach[1].model_copy(update={"notify": notify}))
        if not approval.is_pending or notify == "channel":
            return reach
        named = self.dms.named(approval)
        tried = {*already, *(reach[1].unreached if reach else {})}
        new = [user for user in named.users if user not in tried]
        if not new:
            return reach
        reached, unreached = self.dms.send_each(new, request_message(approval, earlier))
        for user, posted in reached.items():
            self.places.keep_dm(approval.id, user, posted)
        first = reach[0] if reach else self.places.request(approval.id)
        if first is None:  # not posted yet: the post, when it is made, says who has it
            return reach
        unreached = {**(reach[1].unreached if reach else {}), **named.unresolved, **unreached}
        now = Reach(notify=notify, asked=sorted({*already, *reached}), unreached=unreached)
        self.places.note_reach(approval.id, now.model_dump())
        return first, now

    def _post_again(self, event: RequestChanged, gone: list[Posted], reach: tuple[Posted, Reach] | None) -> None:
        """Post again, as it stands, each of the request's channel messages someone deleted; note the new one (so its
        buttons count) and tell the run's thread why. (A deleted DM stays deleted: its reader did that.)"""
        approval = event.approval
        for stage in (0, *(e.stage for e in approval.escalations)):
            posted = self.places.request(approval.id, stage)
            if posted is None or posted not in gone:
                continue
            first = reach if stage == 0 and reach and reach[0] == posted else None
            message = self.notifier.channel_message(approval, event.earlier, first[1] if first else None)
            again = self.notifier.post_message(approval, posted.channel, None, message)
            link = self.notifier.permalink(again, reply=False)  # posted top level again
            noted = first[1].model_dump() if first else None
            self.places.keep_request(approval.id, again, link if stage == 0 else None, stage=stage, reach=noted)
            thread = self.places.thread(approval.thread_id)
            if thread is not None:
                self.notifier.post_outcome(approval.run, reposted_text(approval.action.tool, link), thread)

    @_show.register
    def _escalated(self, event: RequestEscalated) -> bool:
        posted = self.notifier.post_escalation(event.approval, event.stage, event.earlier)
        self.places.keep_request(event.approval.id, posted, stage=event.stage)
        # Whoever has it by DM hears it went on (and may still decide it there).
        for dm in self.places.dms(event.approval.id).values():
            self.dms.reply(dm, dm_escalated_text(event.approval, event.stage))
        return True

    @_show.register
    def _reminder(self, event: DeadlineNear) -> bool:
        approval = event.approval
        latest = self.places.request(approval.id, approval.stage) or self.places.request(approval.id)
        reach = self._reach(approval.id)
        # A short line in the channel has nobody to remind: its people have the request by DM.
        shown = False if reach and reach[1].brief and latest == reach[0] else self.notifier.post_reminder(approval, latest)
        if approval.deadline_at is not None:
            for dm in self.places.dms(approval.id).values():
                shown = self.dms.reply(dm, dm_reminder_text(approval)) or shown
        return shown

    @_show.register
    def _stand_in(self, event: StandInNamed) -> bool:
        approval = event.approval
        if notify_of(approval) == "channel" or event.delegate not in self.dms.named(approval).users:
            return False  # its channel holds it for them, as for everyone who decides it
        reach = self._reach(approval.id)
        if event.delegate in {*self.places.dms(approval.id), *(reach[1].unreached if reach else {})}:
            return True  # sent to them already (or Slack would not let it be)
        self._changed(RequestChanged(approval=approval, earlier=event.earlier))  # sends it, and the post says so
        return True

    @_show.register
    def _handed_over(self, event: RequestHandedOver) -> bool:
        approval, to = event.approval, event.to
        unreached: str | None = None
        try:
            held = self.places.dms(approval.id).get(to)
            if held is not None:
                self.dms.reply(held, handed_over_line(event.by))
            else:
                self.dms.send(to, {"text": handed_over_line(event.by)})
                self.places.keep_dm(approval.id, to, self.dms.send(to, request_message(approval, event.earlier)))
        except SlackApiError as error:
            unreached = str(error.response.get("error"))
        thread = self.places.thread(approval.thread_id)
        if thread is not None:
            try:
                self.notifier.post_outcome(approval.run, handed_over_thread_line(event.by, to, unreached), thread)
            except SlackApiError:
                log.warning("could not tell the thread of run %s of a hand-over", approval.thread_id, exc_info=True)
        return unreached is None or thread is not None

    @_show.register
    def _progress_of(self, event: RunProgressed) -> bool:
        thread = self.places.thread(event.run.thread_id)
        if thread is None:
            return False  # shown once the run's first request makes its thread
        text = progress_text(event)
        # The run as it stands now (stopped or ended: no Stop button), not as the progress follower first read it.
        run = self.store.runs.get_run(event.run.thread_id)
        blocks = progress_blocks(run, text)
        ts = self.places.progress(event.run.thread_id)
        if ts:
            try:
                self.notifier.update_progress(thread, ts, text, blocks)
                if stoppable(run):
                    self.places.keep_progress(run.thread_id, Posted(thread.channel, ts), text)
                return True
            except SlackApiError as error:
                if error.response.get("error") != "message_not_found":
                    raise
                # Someone deleted it: the run's progress goes on in a new one.
        posted = self.notifier.post_progress(thread, text, blocks)
        self.places.keep_progress(run.thread_id, posted, text if stoppable(run) else None)
        return True

    @_show.register
    def _stopped(self, event: RunStopped) -> bool:
        # Drawn again as it was last shown, without its Stop button (no job of the run will draw it again).
        posted, text = self.places.progress_shown(event.run.thread_id) or (None, None)
        if posted is None or text is None:
            return False  # no progress message, or none that offered to stop the run
        try:
            self.notifier.update_progress(posted, posted.ts, text, progress_blocks(event.run, text))
        except SlackApiError as error:
            if error.response.get("error") != "message_not_found":
                raise
            return False  # someone deleted it: nothing offers to stop the run
        return True

    @_show.register
    def _ended(self, event: RunEnded) -> bool:
        thread = self.places.thread(event.run.thread_id)
        # Said again, the ending may be posted already (a worker killed after posting it, before noting it), so where it
        # goes is read first: the run's thread, or, for a run that ended before it asked anything, the channel it was
        # asked from since it started. Only then, so a run's first telling costs no extra call.
        if event.again and self.notifier.ending_posted(event.run, thread):
            shown = True
        else:
            shown = self.notifier.post_ending(event.run, ending_text(event.run, event.ending), thread)
        self.requester.ended(event.run, event.ending, lambda: self.notifier.permalink(thread, reply=False) if thread else None)
        return shown

    @_show.register
    def _notice(self, event: Notice) -> bool:
        link = self.places.permalinks([event.approval_id]).get(event.approval_id) if event.approval_id else None
        return self.notifier.post_outcome(event.run, notice_text(event, link), self.places.thread(event.run.thread_id))


def _as_reach(noted: tuple[Posted, dict[str, Any]] | None) -> tuple[Posted, Reach] | None:
    return (noted[0], Reach.model_validate(noted[1])) if noted else None


def slack_front_end(settings: Settings, store: Store) -> SlackFrontEnd:
    """The Slack front-end the settings describe (its client retries as `bot.slack_client` sets up)."""
    client = create_slack_client(settings)
    user_groups = UserGroupDirectory(client, settings.usergroup_cache_seconds)
    return SlackFrontEnd(store, SlackNotifier(client, settings.approvals_channel, user_groups), settings.admins)
