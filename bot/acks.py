"""Answering Slack in time: every request is acked exactly once, within Slack's 3 s.

A listener runs on the listener threads and the request's thread returns as soon as it acks, so Bolt
answers Slack then while the work after the ack goes on. A listener that has not acked by the timeout
is answered for. What follows a decision's ack (handing its resume to the job queue, then updating the
message on one after-ack thread) waits until no request of this process is left to answer, so a burst of
clicks is acked before any resume is handed over or message updated.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from slack_bolt import Ack

from approvals.errors import CountersignError
from bot.answering import ANSWERING
from bot.explain import explain

log = logging.getLogger(__name__)

ACK_TIMEOUT_SECONDS = 3.0  # Slack's wait for an answer
# What follows a decision's ack waits at most this long for the process to have no request left to
# answer: a burst is acked first, and a steady stream of requests still lets each update through.
AFTER_ACK_YIELD_SECONDS = 1.0
LISTENER_THREADS = 16
# Several, so that a job queue slow to answer holds up one hand-over at a time, not every decision's behind it.
HAND_OVER_THREADS = 4

AckOnce = Callable[..., bool]
T = TypeVar("T")


def unexpected(error: BaseException, what: str) -> str:
    """Log an error nobody planned for under a short reference, and the words that tell a person of it."""
    ref = uuid.uuid4().hex[:8]
    log.error("unexpected error %s (ref %s)", what, ref, exc_info=error)
    return f"Something went wrong and nothing changed (ref `{ref}`). Try again, or ask an admin."


def first_input(body: dict[str, Any]) -> str | None:
    """The block id of a submitted view's first input: where a form-wide error is shown."""
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    return next(iter(values), None) if isinstance(values, dict) else None


def once(ack: Ack) -> tuple[AckOnce, threading.Event]:
    """An ack that answers at most once (True when this call answered), and the event that says it has."""
    answered = threading.Event()
    lock = threading.Lock()

    def ack_once(*args: Any, **options: Any) -> bool:
        with lock:
            if answered.is_set():
                return False
            try:
                ack(*args, **options)
            finally:
                answered.set()
            return True

    return ack_once, answered


class Acks:
    """The threads listeners run on and the rules for answering Slack from them."""

    def __init__(self, ack_timeout: float = ACK_TIMEOUT_SECONDS) -> None:
        self.ack_timeout = ack_timeout
        # Listeners run on these threads; the request's thread answers Slack as soon as they ack
        # (`answer_once_acked`), and what follows the ack goes on here.
        self.listener_threads = ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener")
        # What follows a decision's ack (the message update, a redrawn modal or Home tab) runs here, one at a
        # time, once no request of this process is left to answer (`ANSWERING`, up to AFTER_ACK_YIELD_SECONDS):
        # under a burst of clicks the listener threads record and ack the next clicks first.
        self.after_ack_threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="after-ack")
        # A decision's resume is handed to the job queue here, on the same terms, but never behind a message update.
        self.hand_over_threads = ThreadPoolExecutor(max_workers=HAND_OVER_THREADS, thread_name_prefix="hand-over")

    def in_background(
        self, work: Callable[[], None], answered: threading.Event | None = None, on: ThreadPoolExecutor | None = None
    ) -> None:
        """Run `work` on the listener threads (or `on`), logging what it raises (nothing above that thread would)."""

        def logged() -> None:
            try:
                work()
            except Exception as error:  # noqa: BLE001 - logged with a reference; the user was already answered
                unexpected(error, "after answering Slack")
            finally:
                if answered is not None:
                    answered.set()

        (on or self.listener_threads).submit(logged)

    def after_ack(self, work: Callable[[], None], *, until: float | None = None) -> None:
        """Run `work` on the after-ack thread once no request of this process waits for its answer, or
        AFTER_ACK_YIELD_SECONDS from now (or at `until`, a `time.monotonic()`) at the latest."""
        # The bound counts from the ack, not from when this work's turn comes: updates queued behind one
        # another on the after-ack thread would otherwise each wait it in full.
        self._when_answered(work, self.after_ack_threads, until)

    def hand_over_then(self, hand_over: Callable[[], T], show: Callable[[T], None]) -> None:
        """After a decision's ack (called from its listener): `hand_over` (its resume to the job queue), then `show`
        what came of it on the after-ack thread. A lone click's hand-over is made at once, here; under a burst (other
        requests of this process wait for their answers) it waits on the hand-over threads until none does, or
        AFTER_ACK_YIELD_SECONDS from now at the latest."""
        # Under a burst, each hand-over's enqueue, and the worker's resume it starts, would otherwise take the CPU
        # the next clicks' acks wait for; the resume is owed in SQL whatever happens here. A lone click's resume
        # loses nothing by going at once, and a thread hop would cost it a millisecond.
        until = time.monotonic() + AFTER_ACK_YIELD_SECONDS
        if ANSWERING.count <= 1:  # the one request being answered is this click's own
            self.after_ack(functools.partial(show, hand_over()), until=until)
            return
        self._when_answered(
            lambda: self.after_ack(functools.partial(show, hand_over()), until=until), self.hand_over_threads, until
        )

    def _when_answered(self, work: Callable[[], None], on: ThreadPoolExecutor, until: float | None) -> None:
        until = time.monotonic() + AFTER_ACK_YIELD_SECONDS if until is None else until

        def when_answered() -> None:
            ANSWERING.wait_for_none(max(0.0, until - time.monotonic()))
            work()

        self.in_background(when_answered, on=on)

    def answer_once_acked(self, work: Callable[[], None], ack_once: AckOnce, answered: threading.Event) -> None:
        """Run `work` on the listener threads and return as soon as it has acked, so Bolt answers Slack then
        while the work after the ack goes on (Bolt's own way to do this polls for the ack every 10 ms);
        past the ack timeout, answer for it."""
        self.in_background(work, answered)
        if not answered.wait(self.ack_timeout) and ack_once():
            # Slack has stopped waiting and shown the person a timeout. The work goes on, and tells its
            # outcome another way (the request message, an ephemeral, the response_url); answering here
            # keeps Bolt from reporting an "unhandled request", which this is not.
            log.warning(
                "a request was not acknowledged within %.1f s; its work goes on and reports its outcome", self.ack_timeout
            )

    def clicked(self, listener: Callable[..., None], tell: Callable[[dict[str, Any], Exception], None]) -> Callable[..., None]:
        """A button listener that is always acked, any error it raises handed to `tell` (words for the clicker)."""

        def failed(ack_once: AckOnce, answered: threading.Event, body: dict[str, Any], error: Exception) -> None:
            ack_once()
            tell(body, error)

        return self._always_acked(listener, failed)

    def submitted(self, listener: Callable[..., None]) -> Callable[..., None]:
        """A modal's submission listener: any error becomes an inline error on the form (nothing recorded)."""

        def failed(ack_once: AckOnce, answered: threading.Event, body: dict[str, Any], error: Exception) -> None:
            if answered.is_set():
                log.exception("error after a modal was answered")
                return
            _refuse_form(ack_once, body, error)

        return self._always_acked(listener, failed)

    def _always_acked(
        self,
        listener: Callable[..., None],
        failed: Callable[[AckOnce, threading.Event, dict[str, Any], Exception], None],
    ) -> Callable[..., None]:
        """`listener` run by `answer_once_acked`, what it raises handed to `failed` (while it is being handled,
        so `failed` may log it), and acked in the end if nothing else did."""

        # `functools.wraps` matters beyond the name: Bolt reads the wrapped listener's parameters to pick
        # the arguments it passes.
        @functools.wraps(listener)
        def run(ack: Ack, body: dict[str, Any], **kwargs: Any) -> None:
            ack_once, answered = once(ack)

            def work() -> None:
                try:
                    listener(ack=ack_once, body=body, **kwargs)
                except Exception as error:  # noqa: BLE001 - every failure is reported, by `failed`
                    failed(ack_once, answered, body, error)
                finally:
                    ack_once()

            self.answer_once_acked(work, ack_once, answered)

        return run


def _refuse_form(ack_once: AckOnce, body: dict[str, Any], error: Exception) -> None:
    """Answer a submission that failed: the error on its first input, or (a form without inputs) just close it."""
    text = explain(error) if isinstance(error, CountersignError) else unexpected(error, "on a form")
    block = first_input(body)
    if block is None:
        ack_once()
    else:
        ack_once(response_action="errors", errors={block: text[:150]})
