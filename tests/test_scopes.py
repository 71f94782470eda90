"""The Slack app asks for every scope the code needs, and no more: each Web API method the code calls is looked up
in a table of the bot scopes Slack's reference lists for it, and the manifest must request them all.

A call to a method the table does not know fails here: whoever adds it looks its scopes up (the method's page at
docs.slack.dev/reference/methods/<method>, "Required scopes", bot token) and adds a row. The README's list of
scopes is checked against the manifest by tests/test_manifest.py.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import yaml
from slack_sdk import WebClient

REPO = Path(__file__).resolve().parents[1]
# Where the code that calls Slack lives (the emulator in sandbox/ plays Slack; it is not a client of it).
SCANNED = ("approvals", "bot", "worker", "countersign", "api")

# Web API method -> the bot scopes the code needs for it, as it uses it (Slack's reference, "Required scopes").
BOT_SCOPES: dict[str, frozenset[str]] = {
    # Needs no scope: whether Slack takes the token (the bot's /healthz asks it).
    "auth.test": frozenset(),
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    # Needs no scope: it only builds a link to a message the bot can see.
    "chat.getPermalink": frozenset(),
    # A DM with one person (im:write; mpim:write, for several, is not a bot scope).
    "conversations.open": frozenset({"im:write"}),
    # Members of a rule's channel: channels:read for public channels, groups:read for private ones it was invited to.
    "conversations.members": frozenset({"channels:read", "groups:read"}),
    # A run's thread, to see whether its ending is there: public and private channels, and the app's DM.
    "conversations.replies": frozenset({"channels:history", "groups:history", "im:history"}),
    # The channel a run without a thread was asked from, to see whether its ending is there: the same three.
    "conversations.history": frozenset({"channels:history", "groups:history", "im:history"}),
    "users.info": frozenset({"users:read"}),
    "usergroups.list": frozenset({"usergroups:read"}),
    "usergroups.users.list": frozenset({"usergroups:read"}),
    # Modals and the Home tab need no scope (a trigger_id or the user's Home stands for the permission).
    "views.open": frozenset(),
    "views.push": frozenset(),
    "views.update": frozenset(),
    "views.publish": frozenset(),
}
# Scopes a feature of the manifest needs rather than a method: the slash command.
FEATURE_SCOPES = {"commands": "features.slash_commands"}

# slack_sdk's WebClient names each method by its Slack name with "_" for "." (`chat_postMessage`).
WEB_CLIENT_METHODS = {name for name, value in vars(WebClient).items() if callable(value) and not name.startswith("_")}


def _calls() -> Iterator[tuple[str, str]]:
    """(Slack method, file:line) for every Web API call in the scanned packages: `x.chat_postMessage(...)`, or
    `x.api_call("chat.postMessage", ...)`."""
    for package in SCANNED:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                    continue
                where = f"{path.relative_to(REPO)}:{node.lineno}"
                if node.func.attr in WEB_CLIENT_METHODS - {"api_call"}:
                    yield node.func.attr.replace("_", "."), where
                elif node.func.attr == "api_call" and node.args and isinstance(node.args[0], ast.Constant):
                    yield str(node.args[0].value), where


def _requested() -> set[str]:
    manifest = yaml.safe_load((REPO / "manifest.yml").read_text(encoding="utf-8"))
    return set(manifest["oauth_config"]["scopes"]["bot"])


def test_the_scan_finds_the_calls_the_bot_is_known_to_make() -> None:
    called = {method for method, _ in _calls()}

    assert {"chat.postMessage", "chat.update", "views.open", "conversations.open"} <= called


def test_every_web_api_method_the_code_calls_has_its_scopes_on_record() -> None:
    unknown = sorted({f"{method} ({where})" for method, where in _calls() if method not in BOT_SCOPES})

    assert not unknown, (
        "Web API methods whose scopes are not in tests/test_scopes.py's BOT_SCOPES (look them up in Slack's "
        f"reference and add them): {', '.join(unknown)}"
    )


def test_the_manifest_requests_every_scope_the_code_needs() -> None:
    requested = _requested()
    missing = sorted(
        {
            f"{scope} (for {method}, {where})"
            for method, where in _calls()
            for scope in BOT_SCOPES.get(method, ())
            if scope not in requested
        }
    )

    assert not missing, f"manifest.yml lacks bot scopes the code needs: {', '.join(missing)}"


def test_the_manifest_requests_no_scope_the_code_does_not_need() -> None:
    needed = {scope for method, _ in _calls() for scope in BOT_SCOPES.get(method, ())} | set(FEATURE_SCOPES)

    assert _requested() - needed == set()
