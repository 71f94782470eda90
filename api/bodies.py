"""What the approval API reads: request bodies (pydantic, checked strictly); what it writes is approvals/api_view.py."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# A Slack user id: `requested_by` is shown as a mention, so nothing else may pass.
SLACK_USER = r"^[UW][A-Z0-9]{2,30}$"
# An agent or tool name as policies and admins' settings name them.
NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}$"


def _no_nul(text: str) -> str:
    # PostgreSQL's text columns take no NUL character: refused here rather than failing in the database.
    if "\x00" in text:
        raise ValueError("must not contain a NUL character")
    return text


Text = Annotated[str, AfterValidator(_no_nul)]


class Context(BaseModel):
    """What approvers are shown beside the call."""

    model_config = ConfigDict(extra="forbid")

    summary: Text | None = Field(None, max_length=3000)
    reasoning: Text | None = Field(None, max_length=10000)
    link: str | None = Field(None, max_length=2000, pattern=r"^https?://[^\s<>|]+$")


class Ask(BaseModel):
    """`POST /v1/approvals`: one tool call to decide."""

    model_config = ConfigDict(extra="forbid")

    agent: str = Field(pattern=NAME)
    tool: str = Field(pattern=NAME)
    arguments: dict[str, Any]
    context: Context = Field(default_factory=Context)
    requested_by: str | None = Field(None, pattern=SLACK_USER)
    arguments_schema: dict[str, Any] | None = None
    idempotency_key: Text | None = Field(None, min_length=1, max_length=200)
    # Where the decision is POSTed once made (docs/api.md, Webhooks): http or https only, nothing else to reach.
    callback_url: str | None = Field(None, max_length=2000, pattern=r"^https?://[^\s/?#@]+([/?#][^\s]*)?$")


class Report(BaseModel):
    """`POST /v1/approvals/{id}/result`: what the caller did with the decision."""

    model_config = ConfigDict(extra="forbid")

    ok: bool
    output: Any = None
    error: Text | None = Field(None, max_length=10000)
