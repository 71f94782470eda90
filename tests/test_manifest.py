"""manifest.yml: what an operator pastes into Slack's "Create app from manifest" is a valid app for this bot."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "manifest.yml"
# Slack's published schema (slackapi/manifest-schema); 2.0.0 matches `_metadata.major_version: 2`.
SCHEMA = Path(__file__).resolve().parent / "slack" / "manifest.schema.2.0.0.json"
# The one path the bot serves over HTTP (bot/server.py).
EVENTS_PATH = "/slack/events"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def test_manifest_is_valid_against_slacks_published_schema(manifest: dict[str, Any]) -> None:
    if not SCHEMA.is_file():
        pytest.fail(f"Slack's manifest schema is missing: expected {SCHEMA} (vendored in the repository)")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    assert manifest["_metadata"]["major_version"] == 2, "the schema is 2.0.0, so the manifest must target version 2"

    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(manifest), key=lambda error: error.json_path)

    assert not errors, "\n".join(f"{error.json_path}: {error.message}" for error in errors)


def test_background_color_is_a_hex_color(manifest: dict[str, Any]) -> None:
    # Slack's schema spells this constraint "regex", which draft-07 ignores; Slack itself enforces it.
    assert re.fullmatch(r"#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?", manifest["display_information"]["background_color"])


def test_the_slash_command_is_countersign(manifest: dict[str, Any]) -> None:
    assert [command["command"] for command in manifest["features"]["slash_commands"]] == ["/countersign"]


def test_slash_command_interactivity_and_events_go_to_the_path_the_bot_serves(manifest: dict[str, Any]) -> None:
    (command,) = manifest["features"]["slash_commands"]
    settings = manifest["settings"]

    assert command["url"].endswith(EVENTS_PATH)
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith(EVENTS_PATH)
    assert settings["event_subscriptions"]["request_url"].endswith(EVENTS_PATH)


def test_the_readme_lists_the_scopes_the_manifest_asks_for(manifest: dict[str, Any]) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    listed = readme.split("The bot's scopes:", 1)[1].split("(", 1)[0]

    assert re.findall(r"`([a-z.:]+)`", listed) == manifest["oauth_config"]["scopes"]["bot"]


def test_the_messages_tab_is_on_for_requests_sent_by_dm(manifest: dict[str, Any]) -> None:
    assert "im:write" in manifest["oauth_config"]["scopes"]["bot"]
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
