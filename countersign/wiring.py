"""The worker's start-up wiring: its agents, its front-end (how it reaches people) and the services its
jobs use, built from settings on top of `approvals.wiring` (store, queue, policies).

`slack_front_end` is the one place the worker reaches into `bot`; nothing in the `worker` package imports it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime

from approvals.admin_settings import AdminSettings
from approvals.deciding import Deciding
from approvals.errors import ConfigurationError
from approvals.frontend import FrontEnd
from approvals.models import utcnow
from approvals.settings import Settings, load_settings
from approvals.store import Store
from approvals.wiring import checked_engine, load_policy_set, open_queue, redis_url
from worker.deadlines import DeadlineService
from worker.policy_check import unappliable_rules, unknown_agents
from worker.registry import AgentRegistry
from worker.runtime import AgentRuntime
from worker.services import Services

WORKER_NEEDS_REDIS = "the worker needs the queue's Redis"


def load_registry(settings: Settings) -> AgentRegistry:
    """The agents COUNTERSIGN_AGENTS names, every graph compiled."""
    try:
        return AgentRegistry.from_import_path(settings.countersign_agents)
    except ValueError as error:
        raise ConfigurationError("COUNTERSIGN_AGENTS", str(error)) from None


def slack_front_end(settings: Settings, store: Store) -> FrontEnd:
    """How the worker tells people about requests and runs by default: Slack, through the bot's client."""
    from bot.slack_front_end import slack_front_end

    return slack_front_end(settings, store)


def build_services(
    settings: Settings | None = None,
    clock: Callable[[], datetime] = utcnow,
    front_end: Callable[[Settings, Store], FrontEnd] = slack_front_end,
) -> Services:
    """Load settings, check the schema, open the store, load the agent registry (compiling every graph),
    the policies and the front-end (`front_end` builds it; Slack by default); `clock` says what time
    deadlines compare with."""
    settings = settings or load_settings()
    # Configuration first: a wrong setting is named before anything connects anywhere.
    redis_url(settings, WORKER_NEEDS_REDIS)
    registry = load_registry(settings)
    policies = load_policy_set(settings)
    if problems := unappliable_rules(policies, registry) + unknown_agents(policies, registry):
        raise ConfigurationError("COUNTERSIGN_POLICIES", "; ".join(problems))
    engine = checked_engine(settings)
    # A forked job must not share the parent's pooled connections (SQLAlchemy's advice for fork).
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    # The worker's own commits reach the disk with the next one that must (a tool's start, any click the bot
    # records): a killed process loses none of them; a power cut, only steps that are run again.
    store = Store(engine, sync_every_commit=False)
    store.db.warm_up()
    shown_by = front_end(settings, store)
    queue = open_queue(settings, WORKER_NEEDS_REDIS)
    runtime = AgentRuntime(settings, store, registry, shown_by, policies, queue, AdminSettings(engine), clock)
    deciding = Deciding(store, queue, front_end=shown_by, clock=clock)
    return Services(runtime=runtime, deadlines=DeadlineService(deciding, shown_by, clock))
