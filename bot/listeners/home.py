"""App Home: drawing the tab when it is opened and turning its pages."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.ids import ActionId
from bot.listening import Listeners, Listening
from bot.metadata import HomePageRef


def register(app: App, ctx: Listening) -> None:
    """Add the Home tab's listeners to `app`."""
    listeners = Home(ctx)
    app.event("app_home_opened")(listeners.on_home_opened)
    app.action(ActionId.HOME_PAGE)(ctx.explained(listeners.on_home_page))


class Home(Listeners):
    """The listeners that draw a person's Home tab."""

    def on_home_opened(self, ack: Ack, event: dict[str, Any]) -> None:
        """The Home tab opened: acked at once, drawn after."""
        ack()
        user = event.get("user")
        if event.get("tab", "home") == "home" and isinstance(user, str):
            self.ctx.acks.in_background(lambda: self.ctx.publish_home(user))

    def on_home_page(self, ack: Ack, body: dict[str, Any]) -> None:
        """Turn a page of what waits on the person."""
        ack()
        self.ctx.publish_home(body["user"]["id"], HomePageRef.load(body["actions"][0].get("value")).page)
