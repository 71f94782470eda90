"""What every Countersign process opens from its settings before it serves: the store's engine (checked
against this release's schema), the job queue and the policy set. None of it needs Slack or LangGraph.
A setting that stops start-up raises `ConfigurationError`, which the command line prints as one line."""

from __future__ import annotations

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.engine import Engine

from approvals.errors import ConfigurationError
from approvals.job_queue import JobQueue, connect
from approvals.policies import PolicyError, PolicySet, load_policies
from approvals.schema import SchemaNotCurrent, check_schema
from approvals.settings import Settings, masked_url
from approvals.store import Store, create_db_engine


def checked_engine(settings: Settings, pool_size: int = 5) -> Engine:
    """An engine on DATABASE_URL, whose database is at this release's schema (no process creates or changes
    tables but `countersign migrate`)."""
    engine = create_db_engine(settings.sqlalchemy_url, pool_size=pool_size)
    try:
        check_schema(engine)
    except SchemaNotCurrent as error:
        engine.dispose()
        raise ConfigurationError("DATABASE_URL", str(error)) from None
    return engine


def open_store(settings: Settings, pool_size: int = 5) -> Store:
    """The store on DATABASE_URL, its schema checked (`checked_engine`)."""
    return Store(checked_engine(settings, pool_size))


def redis_url(settings: Settings, needed_for: str) -> str:
    """REDIS_URL, which this process needs (`needed_for` says why, or where to find one)."""
    if settings.redis_url is None:
        raise ConfigurationError("REDIS_URL", f"not set ({needed_for})")
    return settings.redis_url


def open_queue(settings: Settings, needed_for: str) -> JobQueue:
    """The job queue on REDIS_URL (connecting when first used); `needed_for` is said when it is not set."""
    return JobQueue(connect(redis_url(settings, needed_for)), settings.countersign_queue, settings.run_timeout)


def load_policy_set(settings: Settings) -> PolicySet:
    """The rules of COUNTERSIGN_POLICIES (none when unset)."""
    try:
        return load_policies(settings.countersign_policies)
    except PolicyError as error:
        raise ConfigurationError("COUNTERSIGN_POLICIES", str(error)) from None


def reachable_redis(settings: Settings, needed_for: str) -> Redis:
    """A connection to REDIS_URL with no timeout on reads (a worker blocks on it waiting for jobs), which
    answered a ping just now."""
    url = redis_url(settings, needed_for)
    connection = Redis.from_url(url)
    try:
        connection.ping()
    except RedisError as error:
        raise ConfigurationError("REDIS_URL", f"cannot reach {masked_url(url)}: {error}") from None
    return connection
