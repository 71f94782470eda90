"""The Bolt app: buttons, modals, the slash command and App Home. Listeners translate; the core decides.

A click that records a decision is acked only once the decision is committed (record, then ack);
anything else acks at once (`bot.acks`). What a click or form refers to is resolved and verified in one
place (`bot.references`), every failure becomes words for the person in one place (`bot.explain`), and
no listener lets an error reach Slack as a 500. The listeners live in `bot.listeners`, a module for each
thing they serve, sharing one `bot.listening.Listening`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from approvals.job_queue import JobQueue
from approvals.models import utcnow
from approvals.policies import PolicySet
from approvals.settings import Settings
from approvals.store import Store
from bot.acks import ACK_TIMEOUT_SECONDS, AFTER_ACK_YIELD_SECONDS, LISTENER_THREADS, Acks, unexpected
from bot.deliveries import CLAIM_WAIT_SECONDS, OnceApp
from bot.listeners import calls, decisions, handover, home, more, note, remember, slash, stop
from bot.listeners import settings as settings_listeners
from bot.listening import Listening
from bot.more_menu import More

# bot.server and the tests read the threads and timings here, where the app is made.
__all__ = ["ACK_TIMEOUT_SECONDS", "AFTER_ACK_YIELD_SECONDS", "LISTENER_THREADS", "create_app"]


def create_app(
    settings: Settings,
    store: Store,
    queue: JobQueue,
    client: WebClient,
    policies: PolicySet | None = None,
    clock: Callable[[], datetime] = utcnow,
    ack_timeout: float = ACK_TIMEOUT_SECONDS,
) -> App:
    """The Bolt app wired to the store, the job queue, the Slack client and the policy rules (shown to admins);
    `clock` says what time it is (tests move it to a deadline instead of waiting); `ack_timeout` is how long a
    request waits for its listener to answer before answering for it (Slack waits 3 s)."""
    acks = Acks(ack_timeout)
    # Slack's retries and Socket Mode's redeliveries are answered as the first delivery was (bot.deliveries).
    app = OnceApp(
        deliveries=store.deliveries,
        claim_wait=min(CLAIM_WAIT_SECONDS, ack_timeout),
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None,
        process_before_response=True,
        listener_executor=acks.listener_threads,
        raise_error_for_unhandled_request=False,
    )
    ctx = Listening(settings, store, queue, client, policies, clock, acks)
    for listeners in (decisions, calls, home, settings_listeners, slash, handover, stop):
        listeners.register(app, ctx)
    more.register(
        app,
        ctx,
        {
            More.NOTE: note.register(app, ctx),
            More.HANDOVER: handover.HandOver(ctx).on_chosen,
            More.REMEMBER: remember.listener(ctx),
        },
    )
    app.error(_on_error)
    return app


def _on_error(error: Exception, body: dict[str, Any]) -> None:
    # Listeners handle their own errors; this is the net beneath them (logged, never shown raw).
    unexpected(error, f"in a {body.get('type') or 'request'} listener")
