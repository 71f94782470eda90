"""`/countersign`: start an agent run from Slack (`run <agent> <request>`), `help`, and the admins' commands."""

from __future__ import annotations

from typing import Any

from approvals.settings import Settings
from bot.admin_commands import ADMIN_USAGE, AdminCommands
from bot.formatting import escape, quote
from countersign.job_queue import JobQueue, RunRequest

USAGE = "Usage: `/countersign run <agent> <request>` (e.g. `/countersign run payments Refund order #42 for $250`)."


class SlashCommand:
    """Parses a `/countersign` invocation and answers with what the ack should say."""

    def __init__(self, queue: JobQueue, settings: Settings, admin: AdminCommands) -> None:
        self.queue = queue
        self.settings = settings
        self.admin = admin

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        """The ephemeral reply for a `/countersign` command (and, for `run`, the enqueued run)."""
        words = (command.get("text") or "").strip().split(maxsplit=2)
        user = command.get("user_id") or ""
        if not words or words[0] == "help":
            return _ephemeral(f"{USAGE}\n\n{ADMIN_USAGE}" if self.admin.is_admin(user) else USAGE)
        if words[0] in AdminCommands.NAMES:
            rest = (command.get("text") or "").strip()[len(words[0]) :]
            return _ephemeral(self.admin.handle(words[0], rest, user))
        if words[0] != "run" or len(words) < 3:
            return _ephemeral(f"I did not understand `{escape(' '.join(words))}`. {USAGE}")
        agent, request_text = words[1], words[2]
        known = self.queue.known_agents()
        if known and agent not in known:
            return _ephemeral(f"There is no agent `{escape(agent)}`. Agents: {', '.join(sorted(known))}.")
        run = RunRequest(
            agent=agent,
            input_text=request_text,
            requested_by=command.get("user_id"),
            reply_channel=command.get("channel_id"),
        )
        self.queue.enqueue_run(run)
        where = f" Approval requests go to <#{self.settings.approvals_channel}>." if self.settings.approvals_channel else ""
        return _ephemeral(f"Started `{escape(agent)}` (run `{run.thread_id}`):\n{quote(request_text, 1000)}{where}")


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}
