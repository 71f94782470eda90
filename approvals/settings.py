"""Every setting Countersign reads, in one pydantic-settings class (12-factor, from the environment)."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings, SettingsConfigDict

from approvals.errors import ConfigurationError
from approvals.models import Duration

DEFAULT_AGENTS = "worker.demo_agents:AGENTS"


def _env(variable: str, default: Any, description: str, **bounds: Any) -> Any:
    """A field read from the environment variable `variable` (a name that is not the field's own), as one
    row: the variable, its default, what it means, then pydantic's bounds (`ge=`, `le=`, `default_factory=`…)."""
    return Field(default, validation_alias=AliasChoices(variable), description=description, **bounds)


class Settings(BaseSettings):
    """Countersign's configuration; each field is one environment variable."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    slack_bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-…) the app posts with.")
    slack_signing_secret: SecretStr | None = Field(
        None, description="Signing secret Slack signs every request with; unsigned requests are refused."
    )
    slack_app_token: SecretStr | None = Field(
        None, description="App-level token (xapp-…); when set, the bot uses Socket Mode instead of HTTP."
    )
    slack_api_url: str = Field(
        "https://slack.com/api/", description="Slack Web API base URL (the tests point it at an emulator)."
    )
    approvals_channel: str | None = Field(None, description="Channel id where approval requests are posted.")
    redis_url: str | None = Field(
        None, description="Redis for the RQ queues; `countersign dev` starts an embedded Valkey when unset."
    )
    database_url: str = Field(
        "sqlite:///countersign.db",
        description="SQLAlchemy URL of the approval store and LangGraph checkpoints (SQLite or PostgreSQL).",
    )
    countersign_agents: str = _env(
        "COUNTERSIGN_AGENTS",
        DEFAULT_AGENTS,
        "`module:attribute` of the agent registry, a mapping of agent name to graph or factory.",
    )
    countersign_policies: str | None = _env(
        "COUNTERSIGN_POLICIES",
        None,
        "Policy rules: a YAML file, or `module:attribute` of rules in Python; without any, every call needs a human.",
    )
    countersign_default_timeout: Duration = _env(
        "COUNTERSIGN_DEFAULT_TIMEOUT",
        timedelta(hours=24),
        "Deadline of requests whose rule sets no timeout (e.g. 15m, 4h, 2d); at it they are rejected.",
    )
    countersign_admins: str = _env(
        "COUNTERSIGN_ADMINS", "", "Comma-separated Slack user ids and user-group handles (@handle) allowed to change settings."
    )
    countersign_queue: str = _env("COUNTERSIGN_QUEUE", "countersign", "RQ queue name.")
    port: int = Field(3000, ge=1, le=65535, description="HTTP port of the bot; Slack posts to /slack/events.")
    host: str = _env(
        "COUNTERSIGN_HOST",
        "0.0.0.0",
        "Address the bot's HTTP server and the worker's /metrics listen on (`countersign dev`: 127.0.0.1).",
        min_length=1,
    )
    web_concurrency: int = _env("WEB_CONCURRENCY", 2, "Bot HTTP worker processes.", ge=1)
    worker_processes: int = _env(
        "COUNTERSIGN_WORKER_PROCESSES",
        PydanticUndefined,
        "Job processes each `countersign worker` keeps (`--processes`); default: the cores.",
        # The cores this process may run on (os.cpu_count() counts the whole machine's).
        default_factory=lambda: len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        ge=1,
    )
    worker_max_jobs: int = _env(
        "COUNTERSIGN_WORKER_MAX_JOBS", 1000, "Jobs a job process runs before it is replaced by a fresh one.", ge=1
    )
    worker_max_rss_mb: int = _env(
        "COUNTERSIGN_WORKER_MAX_RSS_MB", 1024, "Resident memory (MB) past which a job process is replaced after its job.", ge=64
    )
    run_timeout: int = _env(
        "COUNTERSIGN_RUN_TIMEOUT", 600, "Seconds an agent run or resume job may take before RQ stops it.", ge=10
    )
    usergroup_cache_seconds: float = _env(
        "COUNTERSIGN_USERGROUP_CACHE_SECONDS",
        60.0,
        "How long user-group members and handles (found or not) are remembered before Slack is asked again.",
        ge=0,
    )
    channel_members_cache_seconds: float = _env(
        "COUNTERSIGN_CHANNEL_MEMBERS_CACHE_SECONDS",
        30.0,
        "How long a channel's members (who decide its requests when a rule names no approvers) are "
        "remembered before Slack is asked again; a channel Slack would not list is asked again at once.",
        ge=0,
    )
    lease_seconds: int = _env(
        "COUNTERSIGN_LEASE_SECONDS",
        10,
        "How long a worker's claim on a run lasts unless renewed; a dead worker's run is picked "
        "up again this long after it died.",
        ge=2,
        le=300,
    )
    dispatch_interval: float = _env(
        "COUNTERSIGN_DISPATCH_INTERVAL", 1.0, "Seconds between the dispatcher's passes over what SQL says is owed.", gt=0, le=60
    )
    metrics_port: int = _env(
        "COUNTERSIGN_METRICS_PORT",
        9191,
        "Port of the worker's Prometheus /metrics (0: none); the bot serves /metrics on PORT.",
        ge=0,
        le=65535,
    )
    prometheus_multiproc_dir: str | None = _env(
        "PROMETHEUS_MULTIPROC_DIR",
        None,
        "Where the bot and each worker make their Prometheus multiprocess directory (default: the "
        "temporary directory); each removes its own when it stops.",
    )
    max_attempts: int = _env(
        "COUNTERSIGN_MAX_ATTEMPTS", 5, "Attempts at taking a run one step further before it fails for good.", ge=1, le=100
    )

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token")
    @classmethod
    def _not_empty(cls, secret: SecretStr | None) -> SecretStr | None:
        # An empty secret is not a missing one: a signing secret of "" would key the Home tab's and modals'
        # signed references with "", and anything set, even to "", counts as "use my Slack".
        if secret is not None and not secret.get_secret_value().strip():
            raise ValueError("is empty (set it, or unset the variable)")
        return secret

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, url: str) -> str:
        # slack_sdk appends the method name to base_url as is.
        return url if url.endswith("/") else url + "/"

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        if not url.startswith(("sqlite", "postgres")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return url

    @field_validator("countersign_agents")
    @classmethod
    def _import_path(cls, path: str) -> str:
        module, _, attribute = path.partition(":")
        if not module or not attribute:
            raise ValueError("must look like package.module:attribute")
        return path

    @property
    def admins(self) -> list[str]:
        """The admin user ids and user-group handles."""
        return [entry.strip() for entry in self.countersign_admins.split(",") if entry.strip()]

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the psycopg 3 driver named, as SQLAlchemy needs it."""
        url = self.database_url
        for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url.removeprefix(prefix)
        return url

    @property
    def is_postgres(self) -> bool:
        """True when state lives in PostgreSQL rather than a SQLite file."""
        return self.database_url.startswith("postgres")

    def missing_slack_settings(self, *, socket_mode: bool = False) -> list[str]:
        """Names of the Slack variables still unset that the bot needs to talk to Slack."""
        missing = []
        if self.slack_bot_token is None:
            missing.append("SLACK_BOT_TOKEN")
        if self.slack_signing_secret is None and not socket_mode:
            missing.append("SLACK_SIGNING_SECRET")
        if self.approvals_channel is None:
            missing.append("APPROVALS_CHANNEL")
        return missing


def masked_url(url: str) -> str:
    """`url` as it may be logged, raised or shown: its password, if any, as `***` (`redis://:***@host:6379`).

    A URL's password is the credential to the queue or the database; terminals, logs and the sandbox page
    are read by more people than should hold it."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    end = next((i for i, char in enumerate(rest) if char in "/?#"), len(rest))
    authority, path = rest[:end], rest[end:]
    userinfo, at, host = authority.rpartition("@")
    if at and ":" in userinfo:
        authority = f"{userinfo.partition(':')[0]}:***@{host}"
    # libpq and redis-py also take the password as a query parameter.
    path = re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", path)
    return f"{scheme}://{authority}{path}"


def load_settings() -> Settings:
    """Read the settings from the environment; `ConfigurationError` naming the first bad variable."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise ConfigurationError(name, str(first["msg"])) from None
