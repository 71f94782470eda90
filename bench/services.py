"""What each bench that runs the whole stack sets up first: settings against the Slack emulator, the
migrated store and the job queue."""

from __future__ import annotations

from redis import Redis

from approvals.job_queue import JobQueue
from approvals.settings import Settings
from approvals.store import Store, create_db_engine
from countersign.migrate import migrate


def stack_services(
    slack_api_url: str, redis_url: str, database_url: str, *, token: str, secret: str, channel: str
) -> tuple[Settings, Store, JobQueue]:
    """Settings for a bench's stack (bot token `token`, signing secret `secret`, requests posted in `channel`),
    its database migrated, and the store and queue over them."""
    settings = Settings(
        slack_bot_token=token,
        slack_signing_secret=secret,
        slack_api_url=slack_api_url,
        approvals_channel=channel,
        redis_url=redis_url,
        database_url=database_url,
    )
    migrate(settings)
    store = Store(create_db_engine(settings.sqlalchemy_url))
    queue = JobQueue(Redis.from_url(redis_url), settings.countersign_queue, settings.run_timeout)
    return settings, store, queue
