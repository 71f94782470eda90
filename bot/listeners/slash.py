"""The slash command: `/countersign`, answered in the ack when it is quick, through the response_url when not."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.acks import once as ack_at_most_once
from bot.acks import unexpected
from bot.listening import Listeners, Listening


def register(app: App, ctx: Listening) -> None:
    """Add the slash command's listener to `app`."""
    app.command("/countersign")(SlashListener(ctx).on_command)


class SlashListener(Listeners):
    """The listener of `/countersign`."""

    def on_command(self, ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        """Run the command; a person's command is answered in the ack, an admin's is acked first."""
        slash = self.ctx.slash
        ack_once, answered = ack_at_most_once(ack)

        def work() -> None:
            try:
                if not slash.is_admin_command(command):
                    reply = slash.handle(command)  # quick; a run is stored before this says it started
                    if not ack_once(**reply):
                        respond(**reply)  # answered for at the timeout: the outcome goes to the response_url
                    return
                # Admin commands may read a lot (pending requests, settings): acked first, answered after.
                ack_once()
                respond(**slash.admin_reply(command))
            except Exception as error:  # noqa: BLE001 - the person who typed it is told, with a reference
                text = unexpected(error, "running a slash command")
                if not ack_once(response_type="ephemeral", text=text):
                    respond(response_type="ephemeral", text=text)  # already acked: through the response_url
                return
            # After the answer, which it cannot change: it may make many Slack calls.
            try:
                slash.after_reply(command)
            except Exception as error:  # noqa: BLE001 - logged with a reference; the person was answered
                unexpected(error, "after answering a slash command")

        self.ctx.acks.answer_once_acked(work, ack_once, answered)
