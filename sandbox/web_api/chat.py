"""Messages: chat.* methods, threads and ephemerals, as the app posts them and as people type them."""

from __future__ import annotations

from typing import Any

from sandbox.block_kit import MAX_MESSAGE_BLOCKS, MAX_TEXT_CHARS, block_problems
from sandbox.web_api.direct import DirectMessages
from sandbox.web_api.records import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID, TEAM_URL, SlackApiFailure, copy_json, page_of

# Messages in a page of conversations.replies when the caller names no `limit`, and the most it returns (Slack's).
REPLIES_LIMIT = 1000
# conversations.history's page: 100 unless asked, at most 999 (Slack's own figures).
HISTORY_DEFAULT, HISTORY_MOST = 100, 999


class ChatMethods(DirectMessages):
    """chat.postMessage, chat.update, chat.delete, chat.postEphemeral, chat.getPermalink and conversations.replies."""

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Current state of every message stored in ``channel`` (thread replies included), by ts."""
        with self._lock:
            return [copy_json(m) for m in self._state.messages.get(channel, {}).values()]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """Current state of one stored message; ``KeyError`` if unknown."""
        with self._lock:
            return copy_json(self._state.messages[channel][ts])

    def thread_replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Replies in the thread rooted at ``thread_ts`` (parent excluded), by ts."""
        with self._lock:
            return [
                copy_json(m)
                for m in self._state.messages.get(channel, {}).values()
                if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts
            ]

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages sent, optionally filtered by channel and user."""
        with self._lock:
            return [
                copy_json(m)
                for m in self._state.ephemerals
                if (channel is None or m["channel"] == channel) and (user is None or m["user"] == user)
            ]

    def post_ephemeral(
        self,
        channel: str,
        user_id: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> None:
        """Show the app's answer to one user only, as Slack shows the reply to a slash command."""
        with self._lock:
            self._add_ephemeral(
                {
                    "channel": channel,
                    "user": user_id,
                    "thread_ts": thread_ts,
                    "text": text,
                    **({"blocks": blocks} if blocks else {}),
                }
            )
            self._bump()

    def post_as_user(self, channel: str, user_id: str, text: str, thread_ts: str | None = None) -> str:
        """A message typed by a person (not the app) in ``channel``; returns its ts."""
        with self._lock:
            ts = self._next_ts()
            message = {"type": "message", "user": user_id, "team": TEAM_ID, "ts": ts, "text": text}
            self._store_message(channel, message, thread_ts, author=user_id)
            self._bump()
            return ts

    def archive(self, channel: str) -> None:
        """Archive a channel, as a person does in Slack: the app's posts and updates there are refused (`is_archived`)."""
        with self._lock:
            self._state.archived.add(channel)
            self._bump()

    def delete_channel(self, channel: str) -> None:
        """Delete a channel: the app's posts there are refused (`channel_not_found`)."""
        with self._lock:
            self._state.deleted.add(channel)
            self._bump()

    def delete_message(self, channel: str, ts: str) -> None:
        """Delete a message, as a person does: updating it is refused (`message_not_found`); its thread stays, as in
        Slack, where a deleted message with replies leaves its thread behind."""
        with self._lock:
            self._state.messages.get(channel, {}).pop(ts, None)
            self._bump()

    def _check_channel(self, channel: str) -> None:
        """Refuse, with Slack's error, a post or update in a channel the app cannot write to."""
        if channel in self._state.deleted:
            raise SlackApiFailure("channel_not_found")
        listed = self._channels.get(channel)
        if listed is not None and (BOT_USER_ID in self._left.get(channel, set())):
            # A private channel the app is not in does not exist for it.
            raise SlackApiFailure("channel_not_found" if listed.private else "not_in_channel")
        if channel in self._state.archived:
            raise SlackApiFailure("is_archived")

    @staticmethod
    def _check_message(params: dict[str, Any]) -> None:
        """Refuse, with Slack's error, a message Slack would not take."""
        blocks = params.get("blocks")
        if not params.get("text") and not blocks and not params.get("attachments"):
            raise SlackApiFailure("no_text")
        if blocks is not None and not isinstance(blocks, list):
            raise SlackApiFailure("invalid_blocks_format")
        problems = block_problems(blocks, MAX_MESSAGE_BLOCKS)
        if problems:
            raise SlackApiFailure("invalid_blocks", problems)
        if len(str(params.get("text") or "")) > MAX_TEXT_CHARS:
            raise SlackApiFailure("msg_too_long")
        metadata = params.get("metadata")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            raise SlackApiFailure("invalid_metadata_format")

    @staticmethod
    def _content(params: dict[str, Any]) -> dict[str, Any]:
        content: dict[str, Any] = {"text": params.get("text") or ""}
        for key in ("blocks", "attachments", "metadata"):
            if params.get(key) is not None:
                content[key] = params[key]
        return content

    def _bot_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """A message the app posts (with a new ts), as Slack stores it."""
        return {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": self._next_ts(),
            **self._content(params),
        }

    def _store_message(self, channel: str, message: dict[str, Any], thread_ts: Any, *, author: str) -> None:
        channel_messages = self._state.messages.setdefault(channel, {})
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
            parent = channel_messages.get(str(thread_ts))
            if parent is not None:
                # Slack maintains these on the parent once it has replies.
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = message["ts"]
                parent["reply_users"] = sorted({*parent.get("reply_users", []), author})
                parent["reply_users_count"] = len(parent["reply_users"])
        channel_messages[message["ts"]] = message

    def _add_ephemeral(self, message: dict[str, Any]) -> str:
        ts = self._next_ts()
        self._state.ephemerals.append({"type": "message", "ts": ts, **message})
        return ts

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(_channel(params))
        self._check_channel(channel)
        self._check_message(params)
        message = self._bot_message(params)
        self._store_message(channel, message, params.get("thread_ts"), author=BOT_USER_ID)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": copy_json(message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(_channel(params))
        ts = str(params.get("ts") or "")
        self._check_channel(channel)
        message = self._state.messages.get(channel, {}).get(ts)
        if message is None:
            raise SlackApiFailure("message_not_found")
        self._check_message(params)
        if "text" in params:
            message["text"] = params["text"] or ""
        for key in ("blocks", "attachments", "metadata"):
            if key in params:
                message[key] = params[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": copy_json(message)}

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(_channel(params))
        ts = str(params.get("ts") or "")
        if ts not in self._state.messages.get(channel, {}):
            raise SlackApiFailure("message_not_found")
        self._check_channel(channel)
        self.delete_message(channel, ts)
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = _channel(params)
        if not params.get("user"):
            raise SlackApiFailure("user_not_found")
        self._check_message(params)
        ts = self._add_ephemeral(
            {"channel": channel, "user": params["user"], "thread_ts": params.get("thread_ts"), **self._content(params)}
        )
        return {"ok": True, "message_ts": ts}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = _channel(params)
        ts = str(params.get("message_ts") or "")
        if not ts:
            raise SlackApiFailure("message_not_found")
        permalink = f"{TEAM_URL}archives/{channel}/p{ts.replace('.', '')}"
        stored = self._state.messages.get(channel, {}).get(ts)
        if stored is not None and stored.get("thread_ts") not in (None, ts):
            permalink += f"?thread_ts={stored['thread_ts']}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": permalink}

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel or channel not in self._state.messages:
            raise SlackApiFailure("channel_not_found")
        ts = str(params.get("ts") or "")
        channel_messages = self._state.messages[channel]
        if ts not in channel_messages:
            raise SlackApiFailure("thread_not_found")
        parent = channel_messages[ts]
        # Asking with a reply's ts returns that reply's whole thread, as Slack does.
        root = parent.get("thread_ts") or ts
        thread = [m for m in channel_messages.values() if m["ts"] == root or m.get("thread_ts") == root]
        # Pages as Slack's, oldest first.
        return _read_page(thread, params, REPLIES_LIMIT, REPLIES_LIMIT)

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel"):
            raise SlackApiFailure("channel_not_found")
        oldest, latest = float(params.get("oldest") or 0), float(params.get("latest") or "inf")
        inclusive = str(params.get("inclusive", "")).lower() in ("1", "true")

        def within(ts: float) -> bool:
            return oldest <= ts <= latest if inclusive else oldest < ts < latest

        # The channel's own messages, newest first, as Slack's (thread replies are read with conversations.replies).
        top = [
            m
            for m in self._state.messages.get(str(params["channel"]), {}).values()
            if m.get("thread_ts") in (None, m["ts"]) and within(float(m["ts"]))
        ]
        top.sort(key=lambda m: float(m["ts"]), reverse=True)
        return _read_page(top, params, HISTORY_DEFAULT, HISTORY_MOST)


def _read_page(messages: list[dict[str, Any]], params: dict[str, Any], default_limit: int, most: int) -> dict[str, Any]:
    """A history read's answer: the page of `messages` its cursor and limit ask for, with their metadata only when
    asked for (`include_all_metadata`)."""
    page, cursor = page_of(messages, params, default_limit, most)
    with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
    return {
        "ok": True,
        "messages": [_as_read(m, with_metadata) for m in page],
        "has_more": bool(cursor),
        "response_metadata": {"next_cursor": cursor},
    }


def _as_read(message: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
    """A stored message as a history read returns it: its metadata only when asked for (`include_all_metadata`)."""
    read = copy_json(message)
    if not with_metadata:
        read.pop("metadata", None)
    return read


def _channel(params: dict[str, Any]) -> Any:
    """The channel a chat.* call names, as sent; Slack's ``channel_not_found`` when it names none."""
    channel = params.get("channel")
    if not channel:
        raise SlackApiFailure("channel_not_found")
    return channel
