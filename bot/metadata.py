"""What buttons and modals carry back to the app: ids only, as a small pydantic model, and where the bot
alone renders them (App Home, modals) signed, so a value edited on the way back names nothing else."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from approvals.errors import CountersignError
from approvals.models import Level


class BadReference(CountersignError):
    """A button value or modal metadata that is not one the app rendered (garbage, tampered, out of range)."""


class _Reference(BaseModel):
    """What Slack carries back for us as compact JSON; `load` refuses anything `dump` could not have written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # What a refused value does not name, and the longest value worth parsing.
    _refusal: ClassVar[str]
    _max_chars: ClassVar[int] = 3000

    def dump(self) -> str:
        """The compact JSON Slack stores for us."""
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def load(cls, raw: Any) -> Self:
        """Parse what `dump` wrote (from a button value or a view's private_metadata); `BadReference` otherwise."""
        if not isinstance(raw, str) or len(raw) > cls._max_chars:
            raise BadReference(cls._refusal)
        try:
            return cls.model_validate_json(raw)
        except ValidationError:
            raise BadReference(cls._refusal) from None


class ApprovalRef(_Reference):
    """Names the approval request (and, for a request with several actions, the action) a button or
    modal is about: a button's `value`, a modal's `private_metadata`."""

    _refusal = "this button or form does not name a request"

    approval_id: str = Field(min_length=1, max_length=64)
    # The action's position; None means every action still undecided (one action, or "Approve all").
    action: int | None = Field(None, ge=0)
    # A modal opened from the App Home tab: deciding in it redraws the tab.
    home: bool = False
    # A page of the "all calls" modal.
    page: int | None = Field(None, ge=0)
    # The request's revision the button or form showed: a click on an older one decides nothing.
    rev: int = Field(0, ge=0)
    # The bot's signature over the fields above (App Home buttons and modal metadata).
    sig: str | None = None

    def positions(self) -> list[int] | None:
        """The targeted action positions, as the store takes them."""
        return None if self.action is None else [self.action]


class MetadataSigner:
    """Signs and checks references with a key only the bot holds (derived from its signing secret)."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"countersign metadata v1", hashlib.sha256).digest()

    def _mac(self, ref: ApprovalRef) -> str:
        content = ref.model_copy(update={"sig": None}).dump()
        return hmac.new(self._key, content.encode(), hashlib.sha256).hexdigest()[:32]

    def sign(self, ref: ApprovalRef) -> ApprovalRef:
        """The reference with its signature."""
        return ref.model_copy(update={"sig": self._mac(ref)})

    def verify(self, ref: ApprovalRef) -> ApprovalRef:
        """The reference, if the bot signed it; `BadReference` otherwise."""
        if ref.sig is None or not hmac.compare_digest(ref.sig, self._mac(ref)):
            raise BadReference("this button or form was not rendered for this request")
        return ref

    def sign_view(self, view: dict[str, Any]) -> dict[str, Any]:
        """A view (modal or Home tab) whose metadata and button values referring to requests are signed."""
        signed = dict(view)
        if signed.get("private_metadata"):
            signed["private_metadata"] = self._signed_text(signed["private_metadata"])
        signed["blocks"] = [self._signed_block(block) for block in view.get("blocks", [])]
        return signed

    def _signed_element(self, element: Any) -> Any:
        if not isinstance(element, dict):
            return element
        if "value" in element:
            return {**element, "value": self._signed_text(element["value"])}
        if element.get("type") == "overflow":
            # A "⋯" menu's option value is what it does, then the reference (bot.more_menu).
            options = []
            for option in element.get("options", []):
                intent, _, ref = str(option.get("value", "")).partition(" ")
                options.append({**option, "value": f"{intent} {self._signed_text(ref)}"})
            return {**element, "options": options}
        return element

    def _signed_block(self, block: dict[str, Any]) -> dict[str, Any]:
        elements = [self._signed_element(e) for e in block.get("elements", [])] if "elements" in block else None
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and "value" in accessory:
            accessory = {**accessory, "value": self._signed_text(accessory["value"])}
        signed = dict(block)
        if elements is not None:
            signed["elements"] = elements
        if accessory is not None:
            signed["accessory"] = accessory
        return signed

    def _signed_text(self, raw: str) -> str:
        try:
            ref = ApprovalRef.model_validate_json(raw)
        except ValidationError:
            return raw  # not a request reference (a settings scope, a page marker)
        return self.sign(ref).dump()


class ProposalRef(_Reference):
    """A settings change proposed from a stats flag: a button's `value`, then the confirmation modal's
    `private_metadata` (with where the button was, to answer there)."""

    _refusal = "this button or form does not name a change"

    scope: str
    level: Level
    because: str = Field(max_length=300)
    # Where the admin clicked: the App Home tab (redrawn after), or a channel (answered ephemerally).
    home: bool = False
    channel: str | None = None


class HomePageRef(_Reference):
    """Which page of the waiting requests a Home tab's Previous / Next button shows: its `value`."""

    _refusal = "this button does not name a page"
    _max_chars = 100

    # Bounded: a forged value must not make the store skip past millions of rows.
    page: int = Field(ge=0, le=10_000)
