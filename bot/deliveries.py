"""Slack's retries, handled once: a request Slack delivers again is answered as the first time and does nothing else.

Slack sends an Events API event again when it thinks the first delivery was not acknowledged within 3 s
(`X-Slack-Retry-Num`, `X-Slack-Retry-Reason`: immediately, after a minute, after five), and Socket Mode sends
an envelope again when it was not acked. The retry carries the same payload, so a key read from the payload
(`delivery_key`) names the delivery on every transport, whatever headers reach the app (Bolt's Socket Mode
adapter drops them in some releases). Every delivery is claimed by its key in SQL before any listener runs
(`approvals.store.deliveries`), so it survives a restart and holds across replicas:

- the first claims it and is handled; its answer (the ack's body: a slash command's reply, a form's inline
  errors) is kept in this process, and written beside the claim unless it is empty (most answers: a plain ack,
  which is what a retry gets anyway, costs no write);
- a retry finds the claim and is answered with that answer: from this process when it handled the first
  (waiting for it while the first is still being handled, up to `FIRST_ANSWER_WAIT_SECONDS`), else from SQL,
  waiting until one is written or the first must have been answered (`ANSWERED_WITHIN`, Slack's 3 s), then a
  plain ack. It decides, starts, opens and tells nothing;
- a delivery whose handling failed (an exception, or an answer other than 200) releases its claim, so Slack's
  retry handles it;
- a delivery whose claim waits longer than `claim_wait` (other writers hold the database) is answered with a
  plain ack then and handled once claimed, its answer sent to its response_url, as a listener that does not
  ack in time is (`bot.acks`); one that cannot be claimed at all (the database refuses) is handled unclaimed: its
  listener meets the same database, and tells the person in words.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta
from typing import Any

from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from approvals.models import utcnow
from approvals.store import Deliveries, SeenDelivery
from approvals.tls import tls_context
from bot import metrics
from bot.acks import ACK_TIMEOUT_SECONDS

log = logging.getLogger(__name__)

# How long a retry waits for the first delivery's answer while the first is still being handled (Slack waits 3 s).
FIRST_ANSWER_WAIT_SECONDS = 1.0
FIRST_ANSWER_POLL_SECONDS = 0.05
# By then the first delivery was answered (the bot answers for a listener that has not acked at Slack's 3 s).
ANSWERED_WITHIN = timedelta(seconds=ACK_TIMEOUT_SECONDS + 0.5)
# How many recent deliveries this process keeps the answers of, for retries that reach it.
REMEMBERED_IN_PROCESS = 2048
# A claim is one INSERT; one that takes longer than this waits for other writers, and Slack is answered for it.
CLAIM_WAIT_SECONDS = 0.5
CLAIMING_THREADS = 4
PRUNE_EVERY_SECONDS = 600.0


def delivery_key(body: dict[str, Any]) -> str | None:
    """The key a delivery shares with its retries and redeliveries, or None for a request that is never retried
    to any effect (Slack's URL check, an options load, a closed modal).

    An event is named by its `event_id` (the same on every retry); a click, a form's submission, a shortcut or a
    slash command by its `trigger_id`, which Slack issues afresh for each thing a person does and repeats only
    in a retry, with the first action's `action_ts` beside it."""
    if body.get("type") == "event_callback":
        parts: list[Any] = ["event", body.get("team_id"), body.get("event_id")]
        if not body.get("event_id"):
            return None
    elif body.get("trigger_id"):
        actions = body.get("actions") or [{}]
        first = actions[0] if isinstance(actions[0], dict) else {}
        team = (body.get("team") or {}).get("id") if isinstance(body.get("team"), dict) else body.get("team_id")
        user = (body.get("user") or {}).get("id") if isinstance(body.get("user"), dict) else body.get("user_id")
        parts = [body.get("type") or body.get("command"), team, user, body["trigger_id"], first.get("action_ts")]
    else:
        return None
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class _Handling:
    """A delivery this process is handling or handled: its answer, once it has one."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.response: BoltResponse | None = None


class OnceApp(App):
    """Bolt's `App`, its `dispatch` (what both the HTTP handler and Socket Mode call) answering a delivery Slack
    already made from what was answered the first time (see the module docstring)."""

    def __init__(self, *, deliveries: Deliveries, claim_wait: float = CLAIM_WAIT_SECONDS, **kwargs: Any) -> None:
        """`claim_wait`: how long a delivery waits for its claim before Slack is answered for it (a busy database)."""
        super().__init__(**kwargs)
        self.deliveries = deliveries
        self.claim_wait = claim_wait
        # The deliveries this process handled lately, by key, oldest first: a retry of one is answered from here.
        self._handled: OrderedDict[str, _Handling] = OrderedDict()
        self._handled_lock = threading.Lock()
        # Claims; and the deliveries whose claim took longer than `claim_wait`, handled once claimed.
        self._claiming = ThreadPoolExecutor(max_workers=CLAIMING_THREADS, thread_name_prefix="claiming")
        self._late = ThreadPoolExecutor(max_workers=CLAIMING_THREADS, thread_name_prefix="late")
        # Writing an answer or pruning is not on the way to Slack: one thread does it after the answers left.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deliveries")
        self._prune_at = time.monotonic() + PRUNE_EVERY_SECONDS

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        """Handle a delivery once; answer a retry of it as the first was answered."""
        key = delivery_key(req.body)
        if key is None:
            return super().dispatch(req)
        claiming = self._claiming.submit(self.deliveries.claim, key)
        try:
            seen = claiming.result(self.claim_wait)
        except FutureTimeout:
            # The database is busy with other writers: Slack stops waiting at 3 s, so it is answered now, and the
            # delivery is handled once claimed, its answer (if any) sent to its response_url.
            log.warning("a delivery could not be claimed within %.1f s; answered, and handled once claimed", self.claim_wait)
            self._late.submit(self._handle_late, key, claiming, req)
            return BoltResponse(status=200, body="")
        except Exception:  # the listener meets the same database, and tells the person in words
            log.exception("could not claim a delivery; handled unclaimed")
            return super().dispatch(req)
        if seen is not None:
            return self._again(key, seen, req)
        return self._handle(key, req)

    def _handle(self, key: str, req: BoltRequest) -> BoltResponse:
        """Handle a delivery this process claimed, keeping its answer for retries (or releasing the claim)."""
        handling = self._remember(key)
        try:
            response = super().dispatch(req)
        except BaseException:
            self._forget(key, handling)
            raise
        if response.status != 200:
            self._forget(key, handling)
            return response
        handling.response = response
        handling.done.set()
        if response.body:
            self._writer.submit(self._write, key, response)
        if time.monotonic() >= self._prune_at:
            self._prune_at = time.monotonic() + PRUNE_EVERY_SECONDS
            self._writer.submit(self.deliveries.prune)
        return response

    def _handle_late(self, key: str, claiming: Future[SeenDelivery | None], req: BoltRequest) -> None:
        """Handle a delivery Slack was answered for, once it is claimed; its answer goes to its response_url."""
        try:
            if claiming.result() is not None:
                return  # a retry of it came first, and was handled
        except Exception:  # nothing was handled: Slack's retry (if any) is, and the person was told of a timeout
            log.exception("could not claim a delivery Slack was answered for")
            return
        response = self._handle(key, req)
        url = req.body.get("response_url")
        if response.status == 200 and response.body and isinstance(url, str):
            try:
                WebhookClient(url, ssl=tls_context()).send_dict(json.loads(response.body))
            except (ValueError, SlackApiError, OSError):
                log.exception("could not send a late answer to its response_url")
        elif response.body:
            log.warning("a late delivery's answer had nowhere to go: %.200s", response.body)

    def _again(self, key: str, seen: SeenDelivery, req: BoltRequest) -> BoltResponse:
        """The answer to a delivery seen before: the first's, else (still being handled elsewhere) a plain ack."""
        retry = req.headers.get("x-slack-retry-num", ["?"])[0], req.headers.get("x-slack-retry-reason", ["?"])[0]
        log.info("a delivery seen before (retry %s, %s) answered as the first, nothing done again", *retry)
        metrics.REDELIVERIES.inc()
        with self._handled_lock:
            handling = self._handled.get(key)
        if handling is not None:
            if handling.done.wait(FIRST_ANSWER_WAIT_SECONDS) and handling.response is None:
                return self.dispatch(req)  # the first failed and released its claim: this one handles it
            return _copy(handling.response) if handling.response is not None else BoltResponse(status=200, body="")
        # Claimed by another process (or before a restart): its answer is in SQL once written, and an empty
        # answer never is, so wait only while the first may still be answering.
        until = min(time.monotonic() + FIRST_ANSWER_WAIT_SECONDS, time.monotonic() + _left_to_answer(seen))
        while not seen.answered and time.monotonic() < until:
            time.sleep(FIRST_ANSWER_POLL_SECONDS)
            seen = self.deliveries.seen(key) or seen
        headers: dict[str, str | Sequence[str]] = {"content-type": seen.content_type} if seen.content_type else {}
        return BoltResponse(status=200, body=seen.answer or "", headers=headers)

    def _remember(self, key: str) -> _Handling:
        handling = _Handling()
        with self._handled_lock:
            self._handled[key] = handling
            while len(self._handled) > REMEMBERED_IN_PROCESS:
                self._handled.popitem(last=False)
        return handling

    def _forget(self, key: str, handling: _Handling) -> None:
        """A delivery whose handling failed: released, so that Slack's retry handles it."""
        with self._handled_lock:
            if self._handled.get(key) is handling:
                del self._handled[key]
        # Released before the handling is done, so that a retry waiting on it finds the delivery unclaimed.
        self._release(key)
        handling.done.set()

    def _write(self, key: str, response: BoltResponse) -> None:
        try:
            self.deliveries.answered(key, response.body, response.first_headers().get("content-type"))
        except Exception:  # a retry elsewhere then gets a plain ack; nothing else depends on it
            log.exception("could not keep the answer to a delivery")

    def _release(self, key: str) -> None:
        try:
            self.deliveries.release(key)
        except Exception:  # the claim then stands: a retry is acked and does nothing
            log.exception("could not release a delivery whose handling failed")


def _left_to_answer(seen: SeenDelivery) -> float:
    """Seconds until the first delivery must have been answered (the bot answers for a listener at Slack's 3 s)."""
    return max(0.0, (seen.received_at + ANSWERED_WITHIN - utcnow()).total_seconds())


def _copy(response: BoltResponse) -> BoltResponse:
    return BoltResponse(status=response.status, body=response.body, headers=dict(response.headers))
