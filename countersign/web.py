"""The bot's web process as served: Slack's handler, with the approval API mounted at `/v1/`.

Composed here, so neither bot/ nor api/ imports the other: the bot serves whatever WSGI app this returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from api.app import ApiApp
from api.service import Approvals
from approvals.admin_settings import AdminSettings
from approvals.frontend import FrontEnd
from approvals.policies import PolicySet
from approvals.settings import Settings
from approvals.store import Store, create_db_engine
from approvals.wiring import load_policy_set

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
API_PREFIX = "/v1/"


class Routed:
    """Requests whose path starts with a prefix go to that prefix's app; every other request to `default`, untouched."""

    def __init__(self, default: WsgiApp, prefixes: Mapping[str, WsgiApp]) -> None:
        self.default = default
        self.prefixes = dict(prefixes)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO") or "")
        for prefix, app in self.prefixes.items():
            if path.startswith(prefix):
                return app(environ, start_response)
        return self.default(environ, start_response)


def api_app(settings: Settings, store: Store, front_end: FrontEnd, policies: PolicySet, admin_settings: AdminSettings) -> ApiApp:
    """The approval API over a store, telling `front_end` of each request it stores."""
    approvals = Approvals(store, front_end, policies, admin_settings, settings.countersign_default_timeout)
    return ApiApp(approvals, store.api_keys.key_of)


def with_api(settings: Settings, slack_handler: WsgiApp) -> WsgiApp:
    """The bot's Slack handler with the approval API at `/v1/`, which shows requests through the Slack front-end."""
    from bot.slack_front_end import slack_front_end

    store = Store(create_db_engine(settings.sqlalchemy_url))
    api = api_app(settings, store, slack_front_end(settings, store), load_policy_set(settings), AdminSettings(store.db.engine))
    return Routed(slack_handler, {API_PREFIX: api})
