"""Which request a click or a submitted form is about, and whether it may be about it.

A button on a channel message counts only for the request that message shows (its stored channel
and ts, or an escalation's); a button on the App Home tab and a modal's metadata, which only the
bot renders, must carry the bot's signature. Anything else is a `BadReference`, and nothing changes.
"""

from __future__ import annotations

from typing import Any

from approvals.models import ApprovalRequest
from approvals.store import Store
from bot.metadata import ApprovalRef, BadReference, MetadataSigner
from bot.more_menu import chosen
from bot.slack_places import Posted, SlackPlaces


class References:
    """Reads, verifies and loads what a click or a form names."""

    def __init__(self, store: Store, signer: MetadataSigner) -> None:
        self.store = store
        self.places = SlackPlaces(store)
        self.signer = signer

    def ref(self, body: dict[str, Any]) -> ApprovalRef:
        """The reference a button value or a modal's metadata holds, verified where the bot signed it."""
        if body.get("type") == "block_actions":
            clicked = body["actions"][0]
            # A "⋯" menu's option carries what it does before the reference (bot.more_menu).
            value = chosen(clicked["selected_option"].get("value"))[1] if clicked.get("selected_option") else clicked.get("value")
            ref = ApprovalRef.load(value)
            if (body.get("container") or {}).get("type") == "view":
                return self.signer.verify(ref)
            return ref  # on a channel message: bound to the message in `request`
        return self.signer.verify(ApprovalRef.load((body.get("view") or {}).get("private_metadata")))

    def request(self, body: dict[str, Any]) -> tuple[ApprovalRef, ApprovalRequest]:
        """The reference and the request it names (`ApprovalNotFound`, `BadReference`)."""
        ref = self.ref(body)
        approval = self.store.requests.get(ref.approval_id)
        if ref.action is not None and ref.action >= len(approval.actions):
            raise BadReference("it names a call the request does not have")
        container = body.get("container") or {}
        if body.get("type") == "block_actions" and container.get("type") != "view":
            clicked_on = Posted(str(container.get("channel_id")), str(container.get("message_ts")))
            if clicked_on not in self.places.messages(approval):
                raise BadReference("the button is not on this request's message")
        return ref, approval

    def on_home(self, body: dict[str, Any]) -> bool:
        """True for a click on the App Home tab, or a submitted modal opened from it."""
        view = body.get("view") or {}
        if body.get("type") == "view_submission" or view.get("type") == "modal":
            try:
                return self.ref(body).home if body.get("type") == "view_submission" else self._modal_home(view)
            except BadReference:
                return False
        return (body.get("container") or {}).get("type") == "view"

    def _modal_home(self, view: dict[str, Any]) -> bool:
        return self.signer.verify(ApprovalRef.load(view.get("private_metadata"))).home
