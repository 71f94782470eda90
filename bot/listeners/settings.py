"""The admins' settings: the settings modal (opened from Home) and a proposed change confirmed in a modal."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from approvals.admin_settings import Override
from bot.admin_commands import changed_text
from bot.home import NEW_SETTING
from bot.ids import ActionId, BlockId, CallbackId
from bot.listening import Listeners, Listening, where
from bot.metadata import ProposalRef
from bot.proposal_modal import proposal_modal
from bot.settings_modal import parse_settings_submission, settings_modal

log = logging.getLogger(__name__)


def register(app: App, ctx: Listening) -> None:
    """Add the settings' listeners to `app`; each checks that the person is an admin."""
    listeners = SettingsListeners(ctx)
    app.action(ActionId.EDIT_SETTING)(ctx.explained(listeners.on_edit_setting))
    app.view(CallbackId.SETTINGS_MODAL)(ctx.explained_form(listeners.on_settings_submitted))
    app.action(ActionId.PROPOSE_CHANGE)(ctx.explained(listeners.on_propose_change))
    app.view(CallbackId.PROPOSAL_MODAL)(ctx.explained_form(listeners.on_proposal_confirmed))


class SettingsListeners(Listeners):
    """The listeners that show and change the admins' settings."""

    def on_edit_setting(self, ack: Ack, body: dict[str, Any]) -> None:
        """Open the settings modal for one scope, or for a new one."""
        ack()
        user, scope = body["user"]["id"], body["actions"][0].get("value")
        if not self.ctx.admin.is_admin(user):
            log.warning("settings edit by non-admin %s refused", user)
            return
        scope = None if scope == NEW_SETTING or not isinstance(scope, str) else scope
        self.ctx.open_view(body, settings_modal(scope, self.ctx.admin_settings.get(scope) if scope else Override()))

    def on_settings_submitted(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The settings modal submitted: save the change, then redraw the admin's Home tab."""
        ctx = self.ctx
        user = body["user"]["id"]
        values = view["state"]["values"]
        if not ctx.admin.is_admin(user):
            ack(response_action="errors", errors={BlockId.SETTING_SCOPE: "Only Countersign's admins may change settings."})
            return
        current = {scoped.scope: scoped.override for scoped in ctx.admin_settings.all()}
        scope, changes, errors = parse_settings_submission(values, current)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ctx.admin_settings.change(scope, user, **changes)
        ack()
        ctx.publish_home(user)

    def on_propose_change(self, ack: Ack, body: dict[str, Any]) -> None:
        """Open the modal that confirms a proposed change of a setting."""
        ack()
        user = body["user"]["id"]
        if not self.ctx.admin.is_admin(user):
            log.warning("settings proposal opened by non-admin %s refused", user)
            return
        home = self.ctx.references.on_home(body)
        ref = ProposalRef.load(body["actions"][0].get("value"))
        ref = ref.model_copy(update={"home": home, "channel": None if home else where(body)})
        self.ctx.open_view(body, proposal_modal(ref, self.ctx.admin_settings.get(ref.scope)))

    def on_proposal_confirmed(self, ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """A proposed change confirmed: save it, then say so where it was proposed."""
        ctx = self.ctx
        user = body["user"]["id"]
        if not ctx.admin.is_admin(user):
            ack()  # nothing changes; the modal has no field to show an error on
            log.warning("settings proposal confirmed by non-admin %s refused", user)
            return
        ref = ProposalRef.load(view.get("private_metadata"))
        before, after = ctx.admin_settings.change(ref.scope, user, because=ref.because, level=ref.level)
        ack()
        if ref.home:
            ctx.publish_home(user)
        elif ref.channel:
            try:
                ctx.client.chat_postEphemeral(channel=ref.channel, user=user, text=changed_text(ref.scope, before, after))
            except SlackApiError:
                log.exception("could not tell %s their change of %s is saved", user, ref.scope)
