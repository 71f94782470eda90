"""What buttons and modals carry back to the app: ids only, as small pydantic models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ApprovalRef(BaseModel):
    """Names the approval request a button or modal is about (button `value`, `private_metadata`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approval_id: str
    # Where the request's message is, so a modal submission can update it without a lookup.
    channel: str | None = None
    message_ts: str | None = None

    def dump(self) -> str:
        """The compact JSON Slack stores for us."""
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def load(cls, raw: str) -> ApprovalRef:
        """Parse what `dump` wrote (from a button value or a view's private_metadata)."""
        return cls.model_validate_json(raw)
