"""The one Slack Web API client every call goes through, with slack_sdk's retry handlers."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from approvals.settings import Settings
from approvals.tls import tls_context


def create_slack_client(settings: Settings) -> WebClient:
    """A WebClient on `SLACK_API_URL` that waits out 429s (Retry-After) and retries 5xx and resets."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=10,
        ssl=tls_context(),  # Bolt's respond() and Socket Mode's connection take it from here too
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )
