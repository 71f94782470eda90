"""`countersign api-key create --agent NAME | list | revoke ID`: the approval API's keys (docs/api.md)."""

from __future__ import annotations

import argparse
import getpass
import re
import sys

from approvals.settings import load_settings
from approvals.store import Store

_AGENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}$")


def _store() -> Store:
    from approvals.wiring import checked_engine  # brings in the queue's modules: only when used

    return Store(checked_engine(load_settings()))


def _who() -> str | None:
    """Who ran the command, for the audit log (the shell's user)."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except OSError:
        return None


def create(args: argparse.Namespace) -> None:
    """Create a key for one agent and print it and its webhook signing secret, once: only the key's hash is kept."""
    if not _AGENT.match(args.agent):
        sys.exit(f"countersign api-key: {args.agent!r} is not an agent name")
    record, key = _store().api_keys.create(args.agent, _who())
    # The key last, so `| tail -n 1` takes it (README).
    print(f"key id {record.id} for agent {record.agent}; its webhook signing secret (shown only now):\n{record.webhook_secret}")
    print(f"the key (shown only now):\n{key}")


def list_keys(args: argparse.Namespace) -> None:
    """Print every key's id, agent, creation and revocation."""
    keys = _store().api_keys.all()
    if not keys:
        print("no API keys")
        return
    print(f"{'id':<16}  {'agent':<20}  {'created':<16}  revoked")
    for key in keys:
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "-"
        print(f"{key.id:<16}  {key.agent:<20}  {key.created_at:%Y-%m-%d %H:%M}  {revoked}")


def revoke(args: argparse.Namespace) -> None:
    """Revoke a key: from now on the API refuses it."""
    if not _store().api_keys.revoke(args.key_id, _who()):
        sys.exit(f"countersign api-key: no key {args.key_id!r} that is not revoked already")
    print(f"revoked key {args.key_id}")


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `countersign api-key create|list|revoke`."""
    command = commands.add_parser("api-key", help="the approval API's keys: create (one agent each), list, revoke")
    actions = command.add_subparsers(dest="api_key_command", required=True)
    made = actions.add_parser("create", help="create a key for one agent and print it once")
    made.add_argument("--agent", required=True, help="the agent the key asks for, e.g. support")
    made.set_defaults(func=create)
    actions.add_parser("list", help="every key: id, agent, created, revoked").set_defaults(func=list_keys)
    gone = actions.add_parser("revoke", help="revoke a key by its id")
    gone.add_argument("key_id", metavar="ID", help="the key's id, from `countersign api-key list`")
    gone.set_defaults(func=revoke)
