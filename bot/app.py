"""The Bolt app: buttons, modals and the slash command. Listeners translate; the core decides.

Every listener acks first (Slack allows 3 seconds), then does its work; domain errors are
turned into words for the clicker in one place, `explain`.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from approvals.admin_settings import AdminSettings, Override
from approvals.approval_store import ApprovalStore
from approvals.authorization import check_may_decide
from approvals.errors import (
    AlreadyDecided,
    AlreadyVoted,
    ApprovalNotFound,
    CountersignError,
    DeadlinePassed,
    NotAnApprover,
)
from approvals.models import ApprovalRequest, DecisionType, Level, utcnow
from approvals.policies import PolicySet
from approvals.settings import Settings
from bot.admin_commands import AdminCommands
from bot.args_modal import args_modal
from bot.confirm_modal import CONFIRM_WORD, confirm_modal, confirmed
from bot.decisions import Decider
from bot.edit_modal import edit_modal, parse_edit_submission
from bot.formatting import approver, escape, slack_date
from bot.home import NEW_SETTING, home_view
from bot.ids import ActionId, BlockId, CallbackId
from bot.metadata import ApprovalRef
from bot.reject_modal import reject_modal, reject_reason
from bot.settings_modal import parse_settings_submission, settings_modal
from bot.request_message import decision_line
from bot.slash_command import SlashCommand
from bot.user_groups import UserGroupDirectory
from countersign.job_queue import JobQueue

log = logging.getLogger(__name__)


def _ref_from(body: dict[str, Any]) -> ApprovalRef:
    """The approval a button (its value) or a modal (its private_metadata) is about."""
    if body.get("type") == "block_actions":
        return ApprovalRef.load(body["actions"][0]["value"])
    return ApprovalRef.load(body["view"]["private_metadata"])


def _on_home(body: dict[str, Any]) -> bool:
    """True for a click on the App Home tab, or a submitted modal that was opened from it."""
    if body.get("type") == "view_submission":
        return _ref_from(body).home
    return (body.get("container") or {}).get("type") == "view"


def _where(body: dict[str, Any]) -> str | None:
    container = body.get("container") or {}
    return container.get("channel_id") or (body.get("channel") or {}).get("id")


def explain(error: Exception) -> str:
    """What to tell the user about a domain error."""
    if isinstance(error, AlreadyDecided):
        return f"Nothing changed: {decision_line(error.approval)}"
    if isinstance(error, ApprovalNotFound):
        return "Nothing changed: this approval request no longer exists."
    if isinstance(error, DeadlinePassed):
        then = error.approval.gate.action_at_deadline(error.approval.stage)
        outcome = {"reject": "it is being rejected", "approve": "it goes ahead", "escalate": "it is being escalated"}[then]
        return f"Nothing changed: the deadline passed {slack_date(error.approval.deadline_at)}; {outcome}."
    if isinstance(error, AlreadyVoted):
        return (
            f"Nothing changed: you already approved this; it needs {error.approval.gate.quorum} different "
            "approvers, so someone else has to approve too."
        )
    if isinstance(error, NotAnApprover):
        gate = error.approval.gate
        if error.self_approval:
            return (
                "Nothing changed: you asked for this run, so someone else has to decide its calls "
                f"(rule _{escape(gate.rule)}_ does not allow self-approval)."
            )
        names = ", ".join(approver(entry) for entry in gate.approvers)
        return f"Nothing changed: only {names} may decide this request (rule _{escape(gate.rule)}_)."
    return f"Nothing changed: {error}"


def create_app(
    settings: Settings,
    store: ApprovalStore,
    queue: JobQueue,
    client: WebClient,
    policies: PolicySet | None = None,
) -> App:
    """The Bolt app wired to the store, the job queue, the Slack client and the policy rules (shown to admins)."""
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None,
        # Ack-first listeners run in Bolt's thread pool after the HTTP response is sent.
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )
    decider = Decider(store, queue, client, settings.approvals_channel)
    directory = UserGroupDirectory(client)
    admin_settings = AdminSettings(store.engine)
    admin = AdminCommands(settings.admins, store, admin_settings, policies or PolicySet(), client, directory)
    slash = SlashCommand(queue, settings, admin)

    def load(body: dict[str, Any], intent: DecisionType) -> ApprovalRequest:
        """The request a click is about, if the targeted actions still wait, accept this kind of
        decision, and the clicker may decide (a refused clicker leaves an audit row)."""
        ref = _ref_from(body)
        approval = store.get(ref.approval_id)
        if not approval.is_pending or (ref.action is not None and approval.actions[ref.action].decision):
            raise AlreadyDecided(approval, ref.positions())
        if approval.deadline_at is not None and approval.deadline_at <= utcnow():
            raise DeadlinePassed(approval)
        decider.check_allowed(approval, intent, ref.positions() or approval.undecided())
        user = body["user"]["id"]
        try:
            check_may_decide(approval, user, directory.members(approval.gate.approvers))
        except NotAnApprover as refused:
            store.audit("click_refused", approval.id, user, {"intent": intent.value, "reason": str(refused)})
            raise
        return approval

    def may_decide(approval: ApprovalRequest, user: str) -> bool:
        try:
            check_may_decide(approval, user, directory.members(approval.gate.approvers))
        except NotAnApprover:
            return False
        return True

    def publish_home(user: str) -> None:
        """(Re)draw a user's Home tab: what waits on them, and for admins the settings."""
        waiting = [a for a in store.pending(limit=100) if may_decide(a, user)]
        settings_rows = admin_settings.all() if admin.is_admin(user) else None
        try:
            client.views_publish(user_id=user, view=home_view(waiting, settings_rows))
        except SlackApiError:
            # A refresh: what it shows is in SQL already, and the next open redraws it.
            log.exception("could not publish the Home tab of %s", user)

    def tell(body: dict[str, Any], error: Exception) -> None:
        """Explain a failed click to the clicker, ephemerally (the one place errors become words)."""
        user = (body.get("user") or {}).get("id")
        channel = _where(body)
        if isinstance(error, CountersignError):
            text = explain(error)
            log.info("click by %s refused: %s", user, error)
        else:
            ref = uuid.uuid4().hex[:8]
            log.error("unexpected error (ref %s)", ref, exc_info=error)
            text = f"Something went wrong and nothing changed (ref `{ref}`). Try again, or ask an admin."
        if user and channel:
            client.chat_postEphemeral(channel=channel, user=user, text=text)
        elif user and _on_home(body):
            # A click on the Home tab: there is no channel to answer in, so redraw the tab as it is now.
            publish_home(user)

    def explained(listener: Callable[..., None]) -> Callable[..., None]:
        """Run a button listener (which acks first), turning any error into words for the clicker.

        Errors must not escape an acked listener: Bolt then replaces the sent ack with a 500.
        """

        @functools.wraps(listener)
        def run(ack: Ack, body: dict[str, Any], **kwargs: Any) -> None:
            try:
                listener(ack=ack, body=body, **kwargs)
            except Exception as error:  # noqa: BLE001 - every failure is reported to the user
                tell(body, error)

        return run

    @app.action(ActionId.APPROVE)
    @app.action(ActionId.APPROVE_ALL)
    @explained
    def on_approve(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        approval = load(body, DecisionType.APPROVE)
        if approval.gate.level is Level.MANUAL:
            # Extra friction: the approval counts once the approver typed CONFIRM.
            view = confirm_modal(approval, _ref_from(body).action, from_home=_on_home(body))
            client.views_open(trigger_id=body["trigger_id"], view=view)
            return
        decider.announce(decider.approve(approval, body["user"]["id"], _ref_from(body).positions()))
        if _on_home(body):
            publish_home(body["user"]["id"])

    @app.action(ActionId.EDIT)
    @explained
    def on_edit(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        approval = load(body, DecisionType.EDIT)
        view = edit_modal(approval, _ref_from(body).action or 0, from_home=_on_home(body))
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.action(ActionId.REJECT)
    @app.action(ActionId.RESPOND)
    @explained
    def on_reject_or_reply(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        kind = DecisionType.RESPOND if body["actions"][0]["action_id"] == ActionId.RESPOND else DecisionType.REJECT
        approval = load(body, kind)
        view = reject_modal(approval, _ref_from(body).action, kind, from_home=_on_home(body))
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.action(ActionId.VIEW_ARGS)
    @explained
    def on_view_args(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        approval = store.get(_ref_from(body).approval_id)
        client.views_open(trigger_id=body["trigger_id"], view=args_modal(approval))

    def submit(ack: Ack, body: dict[str, Any], intent: DecisionType, decide: Any, first_block: str) -> None:
        """Decide from a modal: inline error on the form if it is too late, else close it."""
        try:
            # Decide before closing the modal, so a lost race shows on the form, not silently.
            decided = decide(load(body, intent))
        except CountersignError as error:
            ack(response_action="errors", errors={first_block: explain(error)[:150]})
            return
        ack()
        decider.announce(decided)
        if _on_home(body):
            publish_home(body["user"]["id"])

    @app.view(CallbackId.EDIT_MODAL)
    def on_edit_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        try:
            approval = load(body, DecisionType.EDIT)
        except CountersignError as error:
            ack(response_action="errors", errors={next(iter(values)): explain(error)[:150]})
            return
        position = _ref_from(body).action or 0
        edited, errors = parse_edit_submission(approval, position, values)
        if approval.gate.level is Level.MANUAL and not confirmed(values):
            errors[BlockId.CONFIRM] = f"Type {CONFIRM_WORD} to approve with these values."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        user = body["user"]["id"]
        submit(ack, body, DecisionType.EDIT, lambda a: decider.edit(a, user, position, edited), next(iter(values)))

    @app.view(CallbackId.REJECT_MODAL)
    @app.view(CallbackId.RESPOND_MODAL)
    def on_reject_or_reply_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        kind = DecisionType.RESPOND if view["callback_id"] == CallbackId.RESPOND_MODAL else DecisionType.REJECT
        text = reject_reason(view["state"]["values"])
        if not text:
            missing = "Say why, so the agent can answer." if kind is DecisionType.REJECT else "Type your answer."
            ack(response_action="errors", errors={BlockId.REJECT_REASON: missing})
            return
        positions = _ref_from(body).positions()
        user = body["user"]["id"]
        submit(ack, body, kind, lambda a: decider.answer(a, user, positions, kind, text), BlockId.REJECT_REASON)

    @app.view(CallbackId.CONFIRM_MODAL)
    def on_confirm_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        if not confirmed(view["state"]["values"]):
            ack(response_action="errors", errors={BlockId.CONFIRM: f"Type {CONFIRM_WORD} (in capitals) to approve."})
            return
        positions = _ref_from(body).positions()
        user = body["user"]["id"]
        submit(ack, body, DecisionType.APPROVE, lambda a: decider.approve(a, user, positions), BlockId.CONFIRM)

    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home":
            publish_home(event["user"])

    @app.action(ActionId.EDIT_SETTING)
    def on_edit_setting(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user, scope = body["user"]["id"], body["actions"][0]["value"]
        if not admin.is_admin(user):
            log.warning("settings edit by non-admin %s refused", user)
            return
        scope = None if scope == NEW_SETTING else scope
        view = settings_modal(scope, admin_settings.get(scope) if scope else Override())
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.view(CallbackId.SETTINGS_MODAL)
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
    def on_command(ack: Ack, command: dict[str, Any]) -> None:
        ack(**slash.handle(command))

    return app

