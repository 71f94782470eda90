"""Views: modals (opened, pushed, updated and closed on one person's screen) and App Home tabs."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from sandbox.block_kit import view_problems
from sandbox.web_api.core import EmulatorCore, Trigger, forget_stale
from sandbox.web_api.records import APP_ID, BOT_ID, TEAM_ID, SlackApiFailure, copy_json

# Slack lets an app use a trigger_id for 3 seconds, once.
TRIGGER_TTL_SECONDS = 3.0
# A modal holds at most three views stacked.
MAX_VIEW_STACK = 3


class ViewMethods(EmulatorCore):
    """views.open, views.push, views.update and views.publish, and the Slack client's side of modals."""

    def views(self) -> dict[str, dict[str, Any]]:
        """Current state of every view opened/pushed/updated, by view id."""
        with self._lock:
            return {k: copy_json(v) for k, v in self._state.views.items()}

    def home_view(self, user_id: str) -> dict[str, Any]:
        """The App Home view last published for a user (KeyError if none)."""
        with self._lock:
            return copy_json(self._state.home_views[user_id])

    def modal_stack(self, user_id: str) -> list[dict[str, Any]]:
        """The modal views open on a user's screen, bottom first (empty when none is open)."""
        with self._lock:
            return [copy_json(self._state.views[v]) for v in self._state.modal_stacks.get(user_id, [])]

    def issue_trigger(self, user_id: str, view_id: str | None = None) -> str:
        """A fresh ``trigger_id`` for an interaction by ``user_id`` (from modal ``view_id``, if any).

        A view the app opens or pushes with it appears on that user's screen; like Slack's,
        it works once, within 3 seconds.
        """
        trigger_id = f"{int(time.time())}.{next(self._id_counter):09d}.{secrets.token_hex(16)}"
        now = time.monotonic()
        with self._lock:
            # Most clicks open nothing: forget the triggers that can no longer be used.
            triggers = self._state.triggers
            forget_stale(triggers, TRIGGER_TTL_SECONDS, now)
            triggers[trigger_id] = Trigger(user=user_id, view_id=view_id, issued_at=now)
        return trigger_id

    def close_view(self, user_id: str, view_id: str, *, close_all: bool = False) -> list[dict[str, Any]]:
        """Take ``view_id`` (and the views above it, or every view with ``close_all``) off the user's
        screen; returns the views closed, top first."""
        with self._lock:
            stack = self._state.modal_stacks.get(user_id, [])
            if view_id not in stack:
                return []
            cut = 0 if close_all else stack.index(view_id)
            closed = [copy_json(self._state.views[v]) for v in reversed(stack[cut:])]
            del stack[cut:]
            self._bump()
            return closed

    def replace_view(self, view_id: str, view: Any) -> dict[str, Any]:
        """Replace a modal view in place (``response_action: update``); ``SlackApiFailure`` if Slack would refuse it."""
        with self._lock:
            current = self._state.views.get(view_id)
            if current is None:
                raise SlackApiFailure("not_found")
            stored = self._store_view(view, view_id, current["root_view_id"], current["previous_view_id"])
            self._bump()
            return stored

    def push_view(self, user_id: str, view: Any) -> dict[str, Any]:
        """Push a view on the user's modal stack (``response_action: push``)."""
        with self._lock:
            stored = self._push(user_id, view)
            self._bump()
            return stored

    def save_view_state(self, view_id: str, values: dict[str, Any]) -> None:
        """Remember what the user has typed in a modal, as Slack keeps it in ``view.state``."""
        with self._lock:
            if view_id in self._state.views:
                self._state.views[view_id]["state"] = {"values": copy_json(values)}

    def _consume_trigger(self, params: dict[str, Any]) -> Trigger | None:
        """Use up a trigger_id; who it was issued to, when the Slack client side issued it."""
        trigger_id = params.get("trigger_id") or params.get("interactivity_pointer")
        if not trigger_id:
            raise SlackApiFailure("invalid_arguments")
        if trigger_id in self._state.used_trigger_ids:
            raise SlackApiFailure("expired_trigger_id")
        issued = self._state.triggers.pop(trigger_id, None)
        if issued is not None and time.monotonic() - issued.issued_at > TRIGGER_TTL_SECONDS:
            raise SlackApiFailure("expired_trigger_id")
        self._state.used_trigger_ids.add(trigger_id)
        return issued

    def _store_view(self, view: Any, view_id: str, root_view_id: str, previous_view_id: str | None) -> dict[str, Any]:
        problems = view_problems(view, ("modal",))
        if problems:
            raise SlackApiFailure("invalid_arguments", problems)
        stored: dict[str, Any] = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view["type"],
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            "clear_on_close": False,
            "notify_on_close": False,
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id,
            "app_id": APP_ID,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
            **copy_json(view),
        }
        # Slack owns these; whatever the app sent for them is not echoed back.
        stored["id"] = view_id
        stored["root_view_id"] = root_view_id
        stored["previous_view_id"] = previous_view_id
        stored["state"] = {"values": {}}
        stored["hash"] = hashlib.sha1(f"{view_id}:{self._next_ts()}".encode()).hexdigest()[:16]
        self._state.views[view_id] = stored
        return copy_json(stored)

    def _push(self, user_id: str, view: Any) -> dict[str, Any]:
        stack = self._state.modal_stacks.setdefault(user_id, [])
        if len(stack) >= MAX_VIEW_STACK:
            raise SlackApiFailure("push_limit_reached")
        view_id = self._next_id("V")
        root = stack[0] if stack else view_id
        stored = self._store_view(view, view_id, root, stack[-1] if stack else None)
        stack.append(view_id)
        return stored

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = self._consume_trigger(params)
        view_id = self._next_id("V")
        stored = self._store_view(params.get("view"), view_id, view_id, None)
        if trigger is not None:
            # A new modal takes the user's screen.
            self._state.modal_stacks[trigger.user] = [view_id]
        return {"ok": True, "view": stored}

    def _views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = self._consume_trigger(params)
        if trigger is not None:
            return {"ok": True, "view": self._push(trigger.user, params.get("view"))}
        view_id = self._next_id("V")
        # No one is known to have issued this trigger; the latest view is the likely root.
        previous = next(reversed(self._state.views), None)
        root = self._state.views[previous]["root_view_id"] if previous else view_id
        return {"ok": True, "view": self._store_view(params.get("view"), view_id, root, previous)}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = params.get("view_id")
        external_id = params.get("external_id")
        if not view_id and external_id:
            view_id = next((k for k, v in self._state.views.items() if v.get("external_id") == external_id), None)
        if not view_id:
            raise SlackApiFailure("not_found" if external_id else "invalid_arguments")
        home_owner = next((u for u, v in self._state.home_views.items() if v.get("id") == view_id), None)
        if home_owner is not None:
            return self._publish_home(home_owner, params.get("view"))
        current = self._state.views.get(view_id)
        if current is None:
            raise SlackApiFailure("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            raise SlackApiFailure("hash_conflict")
        view = self._store_view(params.get("view"), view_id, current["root_view_id"], current["previous_view_id"])
        return {"ok": True, "view": view}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user_id")
        if not user_id:
            raise SlackApiFailure("invalid_arguments")
        return self._publish_home(str(user_id), params.get("view"))

    def _publish_home(self, user_id: str, view: Any) -> dict[str, Any]:
        problems = view_problems(view, ("home",))
        if problems:
            raise SlackApiFailure("invalid_arguments", problems)
        stored = {**view, "id": self._state.home_views.get(user_id, {}).get("id") or self._next_id("V")}
        self._state.home_views[user_id] = stored
        return {"ok": True, "view": copy_json(stored)}
