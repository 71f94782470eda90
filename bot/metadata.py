"""What buttons and modals carry back to the app: ids only, as small pydantic models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ApprovalRef(BaseModel):
    """Names the approval request (and, for a request with several actions, the action) a button or
    modal is about: a button's `value`, a modal's `private_metadata`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approval_id: str
    # The action's position; None means every action still undecided (one action, or "Approve all").
    action: int | None = None
    # A modal opened from the App Home tab: deciding in it redraws the tab.
    home: bool = False

    def positions(self) -> list[int] | None:
        """The targeted action positions, as the store takes them."""
        return None if self.action is None else [self.action]

    def dump(self) -> str:
        """The compact JSON Slack stores for us."""
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def load(cls, raw: str) -> ApprovalRef:
        """Parse what `dump` wrote (from a button value or a view's private_metadata)."""
        return cls.model_validate_json(raw)
