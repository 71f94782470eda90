"""The Bolt app: buttons, modals, the slash command and App Home. Listeners translate; the core decides.

A click that records a decision is acked only once the decision is committed (record, then ack);
anything else acks at once. What a click or form refers to is resolved and verified in one place
(`bot.references`), every failure becomes words for the person in one place (`bot.explain`), and
no listener lets an error reach Slack as a 500.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from approvals.admin_settings import AdminSettings, Override
from approvals.errors import AlreadyDecided, CountersignError, DeadlinePassed, NotAnApprover, RequestChanged
from approvals.gates import call_gate
from approvals.job_queue import JobQueue
from approvals.models import ApprovalRequest, DecisionType, Gate, Level, utcnow
from approvals.policies import PolicySet
from approvals.settings import Settings
from approvals.stats import approval_stats
from approvals.store import Store
from bot import metrics
from bot.admin_commands import AdminCommands, changed_text
from bot.answer_modal import answer_modal, submitted_answer
from bot.answering import ANSWERING
from bot.args_modal import args_modal
from bot.calls_modal import CALLS_PER_PAGE, calls_modal
from bot.channel_members import ChannelDirectory, Deciders
from bot.confirm_modal import CONFIRM_WORD, confirm_modal, confirmed
from bot.decisions import QUEUE_DOWN_NOTE, Decider, Recorded
from bot.edit_modal import edit_modal, parse_edit_submission, rule_preview
from bot.explain import explain
from bot.home import HOME_REQUESTS, NEW_SETTING, home_view
from bot.ids import ActionId, BlockId, CallbackId
from bot.metadata import ApprovalRef, HomePageRef, MetadataSigner, ProposalRef
from bot.proposal_modal import proposal_modal
from bot.references import References
from bot.reject_modal import reject_modal, reject_reason
from bot.request_message import still_waiting_text
from bot.settings_modal import parse_settings_submission, settings_modal
from bot.slash_command import SlashCommand
from bot.user_groups import UserGroupDirectory

log = logging.getLogger(__name__)

ACK_TIMEOUT_SECONDS = 3.0  # Slack's wait for an answer
# What follows a decision's ack waits at most this long for the process to have no request left to
# answer: a burst is acked first, and a steady stream of requests still lets each update through.
AFTER_ACK_YIELD_SECONDS = 1.0
LISTENER_THREADS = 16


def _where(body: dict[str, Any]) -> str | None:
    container = body.get("container") or {}
    return container.get("channel_id") or (body.get("channel") or {}).get("id")


def _first_input(body: dict[str, Any]) -> str | None:
    """The block id of a submitted view's first input: where a form-wide error is shown."""
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    return next(iter(values), None) if isinstance(values, dict) else None


def _unexpected(error: BaseException, what: str) -> str:
    ref = uuid.uuid4().hex[:8]
    log.error("unexpected error %s (ref %s)", what, ref, exc_info=error)
    return f"Something went wrong and nothing changed (ref `{ref}`). Try again, or ask an admin."


def _signing_key(settings: Settings) -> str:
    # Only the bot renders App Home and modals, so any secret the bot alone holds will do.
    for secret in (settings.slack_signing_secret, settings.slack_app_token, settings.slack_bot_token):
        if secret is not None:
            return secret.get_secret_value()
    return "countersign-unsigned"


def create_app(
    settings: Settings,
    store: Store,
    queue: JobQueue,
    client: WebClient,
    policies: PolicySet | None = None,
    clock: Callable[[], datetime] = utcnow,
    ack_timeout: float = ACK_TIMEOUT_SECONDS,
) -> App:
    """The Bolt app wired to the store, the job queue, the Slack client and the policy rules (shown to admins);
    `clock` says what time it is (tests move it to a deadline instead of waiting); `ack_timeout` is how long a
    request waits for its listener to answer before answering for it (Slack waits 3 s)."""
    # Listeners run on these threads; the request's thread answers Slack as soon as they ack
    # (`answer_once_acked`), and what follows the ack goes on here.
    listener_threads = ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener")
    # What follows a decision's ack (the message update, a redrawn modal or Home tab) runs here, one at a
    # time, once no request of this process is left to answer (`ANSWERING`, up to AFTER_ACK_YIELD_SECONDS):
    # under a burst of clicks the listener threads record and ack the next clicks first.
    after_ack_threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="after-ack")
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None,
        process_before_response=True,
        listener_executor=listener_threads,
        raise_error_for_unhandled_request=False,
    )
    decider = Decider(store, queue, client, settings.approvals_channel)
    directory = UserGroupDirectory(client, settings.usergroup_cache_seconds)
    deciders = Deciders(store, directory, ChannelDirectory(client, settings.channel_members_cache_seconds))
    admin_settings = AdminSettings(store.db.engine)
    rules = policies or PolicySet()
    admin = AdminCommands(settings.admins, store, admin_settings, rules, client, directory, deciders)
    slash = SlashCommand(store, queue, settings, admin, rules, directory)
    signer = MetadataSigner(_signing_key(settings))
    references = References(store, signer)

    def load(body: dict[str, Any], intent: DecisionType) -> tuple[ApprovalRef, ApprovalRequest, list[int]]:
        """The request a click is about, if the targeted actions still wait and accept this kind of decision,
        and of them the calls the clicker may decide, each by its own rule (none: `NotAnApprover`, and a
        refused clicker leaves an audit row; the others stay for their own deciders)."""
        ref, approval = references.request(body)
        if not approval.is_pending or (ref.action is not None and approval.actions[ref.action].decision):
            raise AlreadyDecided(approval, ref.positions())
        if approval.deadline_at is not None and approval.deadline_at <= clock():
            raise DeadlinePassed(approval, approval.deadline_at)
        if ref.rev != approval.revision:
            raise RequestChanged(approval)
        targeted = ref.positions() or approval.undecided()
        decider.check_allowed(approval, intent, targeted)
        user = body["user"]["id"]
        try:
            positions = deciders.decidable(approval, user, targeted)
        except NotAnApprover as refused:
            store.audit_log.audit("click_refused", approval.id, user, {"intent": intent.value, "reason": str(refused)})
            raise
        return ref, approval, positions

    def open_view(body: dict[str, Any], view: dict[str, Any]) -> None:
        """Open a modal for the click (on top of the modal it came from, if any), its references signed so
        the submission can be trusted."""
        if (body.get("view") or {}).get("type") == "modal":
            client.views_push(trigger_id=body["trigger_id"], view=signer.sign_view(view))
        else:
            client.views_open(trigger_id=body["trigger_id"], view=signer.sign_view(view))

    def show_calls(view_id: str, approval_id: str, page: int, home: bool) -> None:
        """Redraw the "all calls" modal (a page turned, or a call decided in it or on top of it)."""
        view = calls_modal(store.requests.get(approval_id), page, from_home=home)
        try:
            client.views_update(view_id=view_id, view=signer.sign_view(view))
        except SlackApiError:
            log.warning("could not redraw the calls of approval %s", approval_id, exc_info=True)

    def publish_home(user: str, page: int = 0) -> None:
        """(Re)draw a user's Home tab: a page of what waits on them, and for admins the settings and the
        approval figures."""
        waiting = deciders.pending_for(user, HOME_REQUESTS, page * HOME_REQUESTS)
        is_admin = admin.is_admin(user)
        settings_rows = admin_settings.all() if is_admin else None
        stats = approval_stats(store.db.engine) if is_admin else None
        try:
            view = home_view(waiting, settings_rows, stats, page=page)
            client.views_publish(user_id=user, view=signer.sign_view(view))
        except SlackApiError:
            # A refresh: what it shows is in SQL already, and the next open redraws it.
            log.exception("could not publish the Home tab of %s", user)

    def tell(body: dict[str, Any], error: Exception) -> None:
        """Explain a failed click to the clicker, ephemerally."""
        user = (body.get("user") or {}).get("id")
        channel = _where(body)
        if isinstance(error, CountersignError):
            metrics.refused(error)
            text = explain(error)
            log.info("click by %s refused: %s", user, error)
        else:
            text = _unexpected(error, "handling a click")
        try:
            if user and channel:
                client.chat_postEphemeral(channel=channel, user=user, text=text)
            elif user and references.on_home(body):
                # A click on the Home tab: there is no channel to answer in, so redraw the tab as it is now.
                publish_home(user)
        except SlackApiError:
            log.exception("could not tell %s why their click changed nothing", user)

    def once(ack: Ack) -> tuple[Callable[..., bool], threading.Event]:
        """An ack that answers at most once (True when this call answered), and the event that says it has."""
        answered = threading.Event()
        lock = threading.Lock()

        def ack_once(*args: Any, **options: Any) -> bool:
            with lock:
                if answered.is_set():
                    return False
                try:
                    ack(*args, **options)
                finally:
                    answered.set()
                return True

        return ack_once, answered

    def in_background(
        work: Callable[[], None], answered: threading.Event | None = None, on: ThreadPoolExecutor = listener_threads
    ) -> None:
        """Run `work` on the listener threads (or `on`), logging what it raises (nothing above that thread would)."""

        def logged() -> None:
            try:
                work()
            except Exception as error:  # noqa: BLE001 - logged with a reference; the user was already answered
                _unexpected(error, "after answering Slack")
            finally:
                if answered is not None:
                    answered.set()

        on.submit(logged)

    def answer_once_acked(work: Callable[[], None], ack_once: Callable[..., bool], answered: threading.Event) -> None:
        """Run `work` on the listener threads and return as soon as it has acked, so Bolt answers Slack then
        while the work after the ack goes on (Bolt's own way to do this polls for the ack every 10 ms);
        past `ack_timeout`, answer for it."""
        in_background(work, answered)
        if not answered.wait(ack_timeout) and ack_once():
            # Slack has stopped waiting and shown the person a timeout. The work goes on, and tells its
            # outcome another way (the request message, an ephemeral, the response_url); answering here
            # keeps Bolt from reporting an "unhandled request", which this is not.
            log.warning("a request was not acknowledged within %.1f s; its work goes on and reports its outcome", ack_timeout)

    def explained(listener: Callable[..., None]) -> Callable[..., None]:
        """Run a button listener, turning any error into words for the clicker; the click is always acked."""

        @functools.wraps(listener)
        def run(ack: Ack, body: dict[str, Any], **kwargs: Any) -> None:
            ack_once, answered = once(ack)

            def work() -> None:
                try:
                    listener(ack=ack_once, body=body, **kwargs)
                except Exception as error:  # noqa: BLE001 - every failure is reported to the clicker
                    ack_once()
                    tell(body, error)
                finally:
                    ack_once()

            answer_once_acked(work, ack_once, answered)

        return run

    def explained_form(listener: Callable[..., None]) -> Callable[..., None]:
        """Run a modal's submission listener: any error becomes an inline error on the form (nothing recorded)."""

        @functools.wraps(listener)
        def run(ack: Ack, body: dict[str, Any], **kwargs: Any) -> None:
            ack_once, answered = once(ack)

            def work() -> None:
                try:
                    listener(ack=ack_once, body=body, **kwargs)
                except Exception as error:
                    if answered.is_set():
                        log.exception("error after a modal was answered")
                        return
                    text = explain(error) if isinstance(error, CountersignError) else _unexpected(error, "on a form")
                    block = _first_input(body)
                    if block is None:
                        ack_once()
                    else:
                        ack_once(response_action="errors", errors={block: text[:150]})
                finally:
                    ack_once()

            answer_once_acked(work, ack_once, answered)

        return run

    def still_waiting(body: dict[str, Any], approval: ApprovalRequest, decided: list[int]) -> None:
        """Tell a clicker whose "all" covered calls under other rules which of them still wait, and for whom."""
        ref = references.ref(body)
        others = [p for p in (ref.positions() or approval.undecided()) if p not in decided]
        channel = _where(body)
        if not others or channel is None:
            return
        text = still_waiting_text(approval, others)
        try:
            client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)
        except SlackApiError:
            log.exception("could not tell %s which calls still wait", body["user"]["id"])

    def after_decision(body: dict[str, Any], recorded: Recorded) -> None:
        """Once the decision is committed and acked: hand the resume to a worker at once, then (on the after-ack
        thread) say so truthfully if the queue was down and update the message; the decision stands whatever
        happens there, so failures are logged."""
        handed_over = decider.hand_over(recorded)
        # The bound counts from the ack, not from when this work's turn comes: updates queued behind one
        # another on the after-ack thread would otherwise each wait it in full.
        until = time.monotonic() + AFTER_ACK_YIELD_SECONDS

        def when_answered() -> None:
            ANSWERING.wait_for_none(max(0.0, until - time.monotonic()))
            show_decision(body, recorded, handed_over)

        in_background(when_answered, on=after_ack_threads)

    def show_decision(body: dict[str, Any], recorded: Recorded, handed_over: bool | None) -> None:
        user = body["user"]["id"]
        if handed_over is False:
            channel = _where(body)
            try:
                if channel:
                    client.chat_postEphemeral(channel=channel, user=user, text=QUEUE_DOWN_NOTE)
            except SlackApiError:
                log.exception("could not tell %s their decision waits for the queue", user)
        decider.announce(recorded.approval_id)
        view = body.get("view") or {}
        if view.get("callback_id") == CallbackId.CALLS_MODAL:
            # Decided with a button in the "all calls" modal: redraw its page.
            page = references.ref({"type": "view_submission", "view": view}).page or 0
            show_calls(view["id"], recorded.approval_id, page, references.on_home(body))
        elif body.get("type") == "view_submission" and view.get("previous_view_id"):
            # A form pushed on top of the "all calls" modal: the modal below shows the call's page.
            ref = references.ref(body)
            show_calls(view["previous_view_id"], recorded.approval_id, (ref.action or 0) // CALLS_PER_PAGE, ref.home)
        if references.on_home(body):
            publish_home(user)

    @app.action(ActionId.APPROVE)
    @app.action(ActionId.APPROVE_ALL)
    @explained
    def on_approve(ack: Ack, body: dict[str, Any]) -> None:
        ref, approval, positions = load(body, DecisionType.APPROVE)
        home = references.on_home(body)
        if any(approval.gate_of(p).level is Level.MANUAL for p in positions):
            # Extra friction: the approval counts once the approver typed CONFIRM.
            ack()
            open_view(body, confirm_modal(approval, ref.action, from_home=home))
            return
        recorded = decider.approve(approval, body["user"]["id"], positions)
        ack()  # only now: the decision is committed
        after_decision(body, recorded)
        still_waiting(body, approval, positions)

    def edited_gate(approval: ApprovalRequest, position: int, edited: dict[str, Any]) -> Gate:
        """The gate the call would have with these arguments: its rule's, with the admins' settings on top."""
        action = approval.actions[position]
        default = settings.countersign_default_timeout
        return call_gate(rules, admin_settings, approval.run.agent, action.tool, edited, action.args_schema, default)

    @app.action(ActionId.ARG_VALUE)
    @explained
    def on_edit_values(ack: Ack, body: dict[str, Any]) -> None:
        """Enter in an Edit modal's field: say which rule the values typed so far fall under."""
        ack()
        view = body["view"]
        ref = references.ref({"type": "view_submission", "view": view})
        approval = store.requests.get(ref.approval_id)
        position = ref.action or 0
        edited, errors = parse_edit_submission(approval, position, (view.get("state") or {}).get("values"))
        preview = rule_preview(approval.gate_of(position), None if errors else edited_gate(approval, position, edited))
        updated = edit_modal(approval, position, from_home=ref.home, preview=preview)
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=signer.sign_view(updated))

    @app.action(ActionId.EDIT)
    @explained
    def on_edit(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        ref, approval, _ = load(body, DecisionType.EDIT)
        open_view(body, edit_modal(approval, ref.action or 0, from_home=references.on_home(body)))

    @app.action(ActionId.REJECT)
    @app.action(ActionId.RESPOND)
    @explained
    def on_reject_or_reply(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        kind = DecisionType.RESPOND if body["actions"][0]["action_id"] == ActionId.RESPOND else DecisionType.REJECT
        ref, approval, _ = load(body, kind)
        open_view(body, reject_modal(approval, ref.action, kind, from_home=references.on_home(body)))

    @app.action(ActionId.ANSWER)
    @explained
    def on_answer(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        ref, approval, _ = load(body, DecisionType.RESPOND)
        open_view(body, answer_modal(approval, ref.action, from_home=references.on_home(body)))

    @app.action(ActionId.VIEW_ARGS)
    @explained
    def on_view_args(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        _, approval = references.request(body)
        open_view(body, args_modal(approval))

    @app.action(ActionId.VIEW_CALLS)
    @explained
    def on_view_calls(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        _, approval = references.request(body)
        open_view(body, calls_modal(approval, 0, from_home=references.on_home(body)))

    @app.action(ActionId.CALLS_PAGE)
    @explained
    def on_calls_page(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        ref, _ = references.request(body)
        show_calls(body["view"]["id"], ref.approval_id, ref.page or 0, references.on_home(body))

    def submit(
        ack: Ack,
        body: dict[str, Any],
        intent: DecisionType,
        decide: Callable[[ApprovalRequest, list[int]], Recorded],
        first_block: str,
    ) -> None:
        """Decide from a modal: inline error on the form if it is too late, else close it once committed."""
        try:
            # Decide before closing the modal, so a lost race shows on the form, not silently.
            _, approval, positions = load(body, intent)
            recorded = decide(approval, positions)
        except CountersignError as error:
            metrics.refused(error)
            ack(response_action="errors", errors={first_block: explain(error)[:150]})
            return
        ack()
        after_decision(body, recorded)
        still_waiting(body, approval, positions)

    @app.view(CallbackId.EDIT_MODAL)
    @explained_form
    def on_edit_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        first = next(iter(values), BlockId.CONFIRM)
        try:
            ref, approval, _ = load(body, DecisionType.EDIT)
        except CountersignError as error:
            metrics.refused(error)
            ack(response_action="errors", errors={first: explain(error)[:150]})
            return
        position = ref.action or 0
        edited, errors = parse_edit_submission(approval, position, values)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        # The edited call is judged again, as a new proposal: under another rule, the edit does not decide.
        gate = edited_gate(approval, position, edited)
        user = body["user"]["id"]
        if gate.rule != approval.gate_of(position).rule:
            reproposed: list[Recorded] = []

            def repropose(current: ApprovalRequest, _: list[int]) -> Recorded:
                reproposed.append(decider.repropose(current, user, position, edited, gate))
                return reproposed[-1]

            submit(ack, body, DecisionType.EDIT, repropose, first)
            if reproposed:
                decider.tell_reproposed(approval, position, user, gate)
            return
        if approval.gate_of(position).level is Level.MANUAL and not confirmed(values):
            ack(response_action="errors", errors={BlockId.CONFIRM: f"Type {CONFIRM_WORD} to approve with these values."})
            return
        submit(ack, body, DecisionType.EDIT, lambda a, _: decider.edit(a, user, position, edited), first)

    @app.view(CallbackId.REJECT_MODAL)
    @app.view(CallbackId.RESPOND_MODAL)
    @explained_form
    def on_reject_or_reply_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        kind = DecisionType.RESPOND if view["callback_id"] == CallbackId.RESPOND_MODAL else DecisionType.REJECT
        text = reject_reason(view["state"]["values"])
        if not text:
            missing = "Say why, so the agent can answer." if kind is DecisionType.REJECT else "Type your answer."
            ack(response_action="errors", errors={BlockId.REJECT_REASON: missing})
            return
        user = body["user"]["id"]
        submit(ack, body, kind, lambda a, positions: decider.answer(a, user, positions, kind, text), BlockId.REJECT_REASON)

    @app.view(CallbackId.ANSWER_MODAL)
    @explained_form
    def on_answer_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        first = next(iter(values), BlockId.ANSWER_TEXT)
        ref, approval = references.request(body)
        text = submitted_answer(approval.actions[ref.action or 0], values)
        if not text:
            ack(response_action="errors", errors={first: "Type your answer, or choose one."})
            return
        user, answer = body["user"]["id"], DecisionType.RESPOND
        submit(ack, body, answer, lambda a, positions: decider.answer(a, user, positions, answer, text), first)

    @app.view(CallbackId.CONFIRM_MODAL)
    @explained_form
    def on_confirm_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        if not confirmed(view["state"]["values"]):
            ack(response_action="errors", errors={BlockId.CONFIRM: f"Type {CONFIRM_WORD} (in capitals) to approve."})
            return
        user = body["user"]["id"]
        submit(ack, body, DecisionType.APPROVE, lambda a, positions: decider.approve(a, user, positions), BlockId.CONFIRM)

    @app.event("app_home_opened")
    def on_home_opened(ack: Ack, event: dict[str, Any]) -> None:
        ack()
        user = event.get("user")
        if event.get("tab", "home") == "home" and isinstance(user, str):
            in_background(lambda: publish_home(user))

    @app.action(ActionId.HOME_PAGE)
    @explained
    def on_home_page(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        publish_home(body["user"]["id"], HomePageRef.load(body["actions"][0].get("value")).page)

    @app.action(ActionId.EDIT_SETTING)
    @explained
    def on_edit_setting(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user, scope = body["user"]["id"], body["actions"][0].get("value")
        if not admin.is_admin(user):
            log.warning("settings edit by non-admin %s refused", user)
            return
        scope = None if scope == NEW_SETTING or not isinstance(scope, str) else scope
        open_view(body, settings_modal(scope, admin_settings.get(scope) if scope else Override()))

    @app.view(CallbackId.SETTINGS_MODAL)
    @explained_form
    def on_settings_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        values = view["state"]["values"]
        if not admin.is_admin(user):
            ack(response_action="errors", errors={BlockId.SETTING_SCOPE: "Only Countersign's admins may change settings."})
            return
        current = {scoped.scope: scoped.override for scoped in admin_settings.all()}
        scope, changes, errors = parse_settings_submission(values, current)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        admin_settings.change(scope, user, **changes)
        ack()
        publish_home(user)

    @app.command("/countersign")
    def on_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack_once, answered = once(ack)

        def work() -> None:
            try:
                if not slash.is_admin_command(command):
                    reply = slash.handle(command)  # quick; a run is stored before this says it started
                    if not ack_once(**reply):
                        respond(**reply)  # answered for at the timeout: the outcome goes to the response_url
                    return
                # Admin commands may read a lot (pending requests, settings): acked first, answered after.
                ack_once()
                respond(**slash.admin_reply(command))
            except Exception as error:  # noqa: BLE001 - the person who typed it is told, with a reference
                text = _unexpected(error, "running a slash command")
                if not ack_once(response_type="ephemeral", text=text):
                    respond(response_type="ephemeral", text=text)  # already acked: through the response_url

        answer_once_acked(work, ack_once, answered)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        # Listeners handle their own errors; this is the net beneath them (logged, never shown raw).
        _unexpected(error, f"in a {body.get('type') or 'request'} listener")

    @app.action(ActionId.PROPOSE_CHANGE)
    @explained
    def on_propose_change(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = body["user"]["id"]
        if not admin.is_admin(user):
            log.warning("settings proposal opened by non-admin %s refused", user)
            return
        home = references.on_home(body)
        ref = ProposalRef.load(body["actions"][0].get("value"))
        ref = ref.model_copy(update={"home": home, "channel": None if home else _where(body)})
        open_view(body, proposal_modal(ref, admin_settings.get(ref.scope)))

    @app.view(CallbackId.PROPOSAL_MODAL)
    @explained_form
    def on_proposal_confirmed(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        user = body["user"]["id"]
        if not admin.is_admin(user):
            ack()  # nothing changes; the modal has no field to show an error on
            log.warning("settings proposal confirmed by non-admin %s refused", user)
            return
        ref = ProposalRef.load(view.get("private_metadata"))
        before, after = admin_settings.change(ref.scope, user, because=ref.because, level=ref.level)
        ack()
        if ref.home:
            publish_home(user)
        elif ref.channel:
            try:
                client.chat_postEphemeral(channel=ref.channel, user=user, text=changed_text(ref.scope, before, after))
            except SlackApiError:
                log.exception("could not tell %s their change of %s is saved", user, ref.scope)

    return app
