"""Slack's retries, handled once: a request Slack delivers again is answered as the first time and does nothing else.

Slack sends an Events API event again when it thinks the first delivery was not acknowledged within 3 s
(`X-Slack-Retry-Num`, `X-Slack-Retry-Reason`: immediately, after a minute, after five), and Socket Mode sends
an envelope again when it was not acked. The retry carries the same payload, so a key read from the payload
(`delivery_key`) names the delivery on every transport, whatever headers reach the app (Bolt's Socket Mode
adapter drops them in some releases). Every delivery is claimed by its key in SQL before any listener runs
(`approvals.store.deliveries`), so it survives a restart and holds across replicas:

- the first claims it, is handled, and its answer (the ack's body: a slash command's reply, a form's inline
  errors) is kept beside the claim;
- a retry finds the claim and is answered with that answer, waiting up to `FIRST_ANSWER_WAIT_SECONDS` for it
  while the first is still being handled (then a plain ack): no second decision, run, modal or ephemeral;
- a delivery whose handling failed (an exception, or an answer other than 200) releases its claim, so Slack's
  retry handles it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from approvals.store import Deliveries, SeenDelivery
from bot import metrics

log = logging.getLogger(__name__)

# How long a retry waits for the first delivery's answer while the first is still being handled (Slack waits 3 s).
FIRST_ANSWER_WAIT_SECONDS = 1.0
FIRST_ANSWER_POLL_SECONDS = 0.05


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


class OnceApp(App):
    """Bolt's `App`, its `dispatch` (what both the HTTP handler and Socket Mode call) answering a delivery Slack
    already made from what was answered the first time (see the module docstring)."""

    def __init__(self, *, deliveries: Deliveries, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deliveries = deliveries
        # Keeping a delivery's answer is not on its way to Slack: one thread writes them after the answers left.
        self._keeping = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deliveries")

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        """Handle a delivery once; answer a retry of it as the first was answered."""
        key = delivery_key(req.body)
        if key is None:
            return super().dispatch(req)
        seen = self.deliveries.claim(key)
        if seen is not None:
            return self._again(key, seen, req)
        try:
            response = super().dispatch(req)
        except BaseException:
            self._keeping.submit(self._release, key)
            raise
        if response.status == 200:
            self._keeping.submit(self._keep, key, response)
        else:
            self._keeping.submit(self._release, key)
        return response

    def _again(self, key: str, seen: SeenDelivery, req: BoltRequest) -> BoltResponse:
        """The answer to a delivery seen before: the first's, once it is kept, else a plain ack."""
        until = time.monotonic() + FIRST_ANSWER_WAIT_SECONDS
        while not seen.answered and time.monotonic() < until:
            time.sleep(FIRST_ANSWER_POLL_SECONDS)
            seen = self.deliveries.seen(key) or seen
        retry = req.headers.get("x-slack-retry-num", ["?"])[0], req.headers.get("x-slack-retry-reason", ["?"])[0]
        log.info("a delivery seen before (retry %s, %s) answered as the first, nothing done again", *retry)
        metrics.REDELIVERIES.inc()
        if not seen.answered:
            # The first is still being handled: it goes on, and tells its outcome as it would have.
            return BoltResponse(status=200, body="")
        headers: dict[str, str | Sequence[str]] = {"content-type": seen.content_type} if seen.content_type else {}
        return BoltResponse(status=200, body=seen.answer or "", headers=headers)

    def _keep(self, key: str, response: BoltResponse) -> None:
        try:
            self.deliveries.answered(key, response.body, response.first_headers().get("content-type"))
        except Exception:  # a retry then gets a plain ack; nothing else depends on it
            log.exception("could not keep the answer to a delivery")

    def _release(self, key: str) -> None:
        try:
            self.deliveries.release(key)
        except Exception:  # the claim then stands: a retry is acked and does nothing
            log.exception("could not release a delivery whose handling failed")
