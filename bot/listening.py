"""What the listeners share: the store, the queue, the Slack client and the steps every listener takes
(loading and checking what a click is about, opening and redrawing views, telling a clicker why nothing
changed, and what follows a recorded decision)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from approvals.admin_settings import AdminSettings
from approvals.deciding import Deciding, Recorded, Seen
from approvals.errors import CountersignError
from approvals.gates import call_gate
from approvals.job_queue import JobQueue
from approvals.models import ApprovalRequest, Decision, DecisionType, Gate
from approvals.policies import PolicySet
from approvals.settings import Settings
from approvals.stats import approval_stats
from approvals.store import Store
from bot import metrics
from bot.acks import Acks, unexpected
from bot.admin_commands import AdminCommands
from bot.calls_modal import CALLS_PER_PAGE, calls_modal
from bot.channel_members import ChannelDirectory, SlackDirectory
from bot.decision_lines import still_waiting_text
from bot.decisions import QUEUE_DOWN_NOTE
from bot.explain import explain
from bot.home import HOME_REQUESTS, home_view
from bot.ids import CallbackId
from bot.metadata import ApprovalRef, MetadataSigner
from bot.outbound import SlackNotifier
from bot.references import References
from bot.slack_front_end import SlackFrontEnd
from bot.slash_command import SlashCommand
from bot.user_groups import UserGroupDirectory

log = logging.getLogger(__name__)

Listener = Callable[..., None]


def where(body: dict[str, Any]) -> str | None:
    """The channel a click came from, if it came from one (not the Home tab or a modal opened there)."""
    container = body.get("container") or {}
    return container.get("channel_id") or (body.get("channel") or {}).get("id")


def signing_key(settings: Settings) -> str:
    """The secret that signs the references in views the bot draws."""
    # Only the bot renders App Home and modals, so any secret the bot alone holds will do.
    for secret in (settings.slack_signing_secret, settings.slack_app_token, settings.slack_bot_token):
        if secret is not None:
            return secret.get_secret_value()
    return "countersign-unsigned"


class Listening:
    """The services and shared steps of every listener; each listener module registers itself with one."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        queue: JobQueue,
        client: WebClient,
        policies: PolicySet | None,
        clock: Callable[[], datetime],
        acks: Acks,
    ) -> None:
        self.settings = settings
        self.store = store
        self.queue = queue
        self.client = client
        self.clock = clock
        self.acks = acks
        self.directory = UserGroupDirectory(client, settings.usergroup_cache_seconds)
        channels = ChannelDirectory(client, settings.channel_members_cache_seconds)
        front_end = SlackFrontEnd(store, SlackNotifier(client, settings.approvals_channel, self.directory), settings.admins)
        self.deciding = Deciding(store, queue, SlackDirectory(self.directory, channels), front_end, clock)
        self.admin_settings = AdminSettings(store.db.engine)
        self.rules = policies or PolicySet()
        self.admin = AdminCommands(settings.admins, store, self.admin_settings, self.rules, client, self.directory, self.deciding)
        self.slash = SlashCommand(store, queue, settings, self.admin, self.rules, self.directory)
        self.signer = MetadataSigner(signing_key(settings))
        self.references = References(store, self.signer)
        self.places = self.references.places

    def explained(self, listener: Listener) -> Listener:
        """A button listener, always acked, any error it raises turned into words for the clicker."""
        return self.acks.clicked(listener, self.tell)

    def explained_form(self, listener: Listener) -> Listener:
        """A submission listener, any error it raises shown inline on the form (nothing recorded)."""
        return self.acks.submitted(listener)

    def load(self, body: dict[str, Any], intent: DecisionType) -> tuple[ApprovalRef, ApprovalRequest, list[int]]:
        """The request a click is about and, of the calls it targets, those the clicker may decide with `intent`
        now (`Deciding.may_decide`, which raises what forbids it)."""
        ref, approval = self.references.request(body)
        positions = self.deciding.may_decide(approval, body["user"]["id"], intent, ref.positions(), rev=ref.rev)
        return ref, approval, positions

    def decide(
        self,
        body: dict[str, Any],
        kind: DecisionType,
        *,
        message: str | None = None,
        edited_args: dict[str, Any] | None = None,
        confirmed: bool = False,
        remember: bool = False,
    ) -> tuple[ApprovalRequest, Recorded]:
        """Take the clicker's decision on what the click targets through the core (`Deciding.decide`), with what it
        carries (a message, edited arguments, whether they typed CONFIRM, whether the approval covers the run's later
        calls, judged on each call's gate now); the request as it was loaded."""
        ref, approval = self.references.request(body)
        decision = Decision(type=kind, decided_by=body["user"]["id"], message=message, edited_args=edited_args)
        seen = Seen(rev=ref.rev, confirmed=confirmed)
        gate_now = functools.partial(self.gate_now, approval) if remember else None
        recorded = self.deciding.decide(approval, decision, ref.positions(), seen=seen, remember=gate_now)
        metrics.decided(kind, vote_only=recorded.vote_only)
        return approval, recorded

    def gate_now(self, approval: ApprovalRequest, position: int) -> Gate:
        """The gate the call would get now, on the arguments it will run with."""
        return self.edited_gate(approval, position, approval.actions[position].args_to_run)

    def edited_gate(self, approval: ApprovalRequest, position: int, edited: dict[str, Any]) -> Gate:
        """The gate the call would have with these arguments: its rule's, with the admins' settings on top."""
        action = approval.actions[position]
        default = self.settings.countersign_default_timeout
        return call_gate(self.rules, self.admin_settings, approval.run.agent, action.tool, edited, action.args_schema, default)

    def open_view(self, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Open a modal for the click (on top of the modal it came from, if any), its references signed so
        the submission can be trusted."""
        if (body.get("view") or {}).get("type") == "modal":
            self.client.views_push(trigger_id=body["trigger_id"], view=self.signer.sign_view(view))
        else:
            self.client.views_open(trigger_id=body["trigger_id"], view=self.signer.sign_view(view))

    def show_calls(self, view_id: str, approval_id: str, page: int, home: bool) -> None:
        """Redraw the "all calls" modal (a page turned, or a call decided in it or on top of it)."""
        view = calls_modal(self.store.requests.get(approval_id), page, from_home=home)
        try:
            self.client.views_update(view_id=view_id, view=self.signer.sign_view(view))
        except SlackApiError:
            log.warning("could not redraw the calls of approval %s", approval_id, exc_info=True)

    def publish_home(self, user: str, page: int = 0) -> None:
        """(Re)draw a user's Home tab: a page of what waits on them, and for admins the settings and the
        approval figures."""
        waiting = self.deciding.pending_for(user, HOME_REQUESTS, page * HOME_REQUESTS)
        is_admin = self.admin.is_admin(user)
        settings_rows = self.admin_settings.all() if is_admin else None
        stats = approval_stats(self.store.db.engine) if is_admin else None
        try:
            # Only someone standing in for a person away decides anything for anyone else.
            standing_in = (
                {approval.id: self.deciding.decides_for(approval, user) for approval in waiting.requests}
                if self.deciding.standing_in(user)
                else {}
            )
            view = home_view(waiting, settings_rows, stats, page=page, standing_in=standing_in)
            self.client.views_publish(user_id=user, view=self.signer.sign_view(view))
        except SlackApiError:
            # A refresh: what it shows is in SQL already, and the next open redraws it.
            log.exception("could not publish the Home tab of %s", user)

    def tell(self, body: dict[str, Any], error: Exception) -> None:
        """Explain a failed click to the clicker, ephemerally."""
        user = (body.get("user") or {}).get("id")
        channel = where(body)
        if isinstance(error, CountersignError):
            metrics.refused(error)
            text = explain(error)
            log.info("click by %s refused: %s", user, error)
        else:
            text = unexpected(error, "handling a click")
        try:
            if user and channel:
                self.client.chat_postEphemeral(channel=channel, user=user, text=text)
            elif user and self.references.on_home(body):
                # A click on the Home tab: there is no channel to answer in, so redraw the tab as it is now.
                self.publish_home(user)
        except SlackApiError:
            log.exception("could not tell %s why their click changed nothing", user)

    def still_waiting(self, body: dict[str, Any], approval: ApprovalRequest, decided: list[int]) -> None:
        """Tell a clicker whose "all" covered calls under other rules which of them still wait, and for whom."""
        ref = self.references.ref(body)
        others = [p for p in (ref.positions() or approval.undecided()) if p not in decided]
        channel = where(body)
        if not others or channel is None:
            return
        text = still_waiting_text(approval, others)
        try:
            self.client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)
        except SlackApiError:
            log.exception("could not tell %s which calls still wait", body["user"]["id"])

    def after_decision(self, body: dict[str, Any], recorded: Recorded) -> None:
        """Once the decision is committed and acked: hand the resume to a worker as soon as this process has no
        request left to answer (within a second), then (on the after-ack thread) say so truthfully if the queue
        was down and update the message; the decision stands whatever happens there, so failures are logged."""
        self.acks.hand_over_then(
            functools.partial(self.deciding.hand_over, recorded), functools.partial(self.show_decision, body, recorded)
        )

    def show_decision(self, body: dict[str, Any], recorded: Recorded, handed_over: bool | None) -> None:
        """Show a committed decision: a note if the queue was down, the request message, and the modal or
        Home tab it was made from."""
        user = body["user"]["id"]
        if handed_over is False:
            channel = where(body)
            try:
                if channel:
                    self.client.chat_postEphemeral(channel=channel, user=user, text=QUEUE_DOWN_NOTE)
            except SlackApiError:
                log.exception("could not tell %s their decision waits for the queue", user)
        self.deciding.announce(recorded.approval_id)
        self.redraw_after_decision(body, recorded.approval_id)
        if self.references.on_home(body):
            self.publish_home(user)

    def redraw_after_decision(self, body: dict[str, Any], approval_id: str) -> None:
        """Redraw the "all calls" modal a decision was made in or on top of, if it was."""
        view = body.get("view") or {}
        if view.get("callback_id") == CallbackId.CALLS_MODAL:
            # Decided with a button in the "all calls" modal: redraw its page.
            page = self.references.ref({"type": "view_submission", "view": view}).page or 0
            self.show_calls(view["id"], approval_id, page, self.references.on_home(body))
        elif body.get("type") == "view_submission" and view.get("previous_view_id"):
            # A form pushed on top of the "all calls" modal: the modal below shows the call's page.
            ref = self.references.ref(body)
            self.show_calls(view["previous_view_id"], approval_id, (ref.action or 0) // CALLS_PER_PAGE, ref.home)


@dataclass(eq=False)
class Listeners:
    """A module's listeners, as methods over the shared services and steps."""

    ctx: Listening
