"""The approval API's keys: created for one agent and shown once, kept only as a hash, listed, revoked, audited."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from approvals.settings import Settings
from approvals.store import Store
from approvals.store.api_keys import key_hash
from approvals.tables import api_keys
from countersign.cli import main
from countersign.migrate import migrate


def test_a_key_acts_for_its_agent_and_only_its_hash_is_stored(empty_store: Store) -> None:
    record, key = empty_store.api_keys.create("support", "U0ADMIN")

    assert empty_store.api_keys.agent_of(key) == "support"
    with empty_store.db.engine.connect() as conn:
        stored = conn.execute(select(api_keys)).mappings().one()
    assert stored["key_hash"] == key_hash(key)
    assert key not in {str(value) for value in stored.values()}
    assert stored["agent"] == "support"
    assert stored["id"] == record.id


def test_an_unknown_or_revoked_key_acts_for_nobody(empty_store: Store) -> None:
    record, key = empty_store.api_keys.create("support")

    assert empty_store.api_keys.agent_of(key + "x") is None
    assert empty_store.api_keys.agent_of("") is None
    assert empty_store.api_keys.revoke(record.id, "U0ADMIN") is True
    assert empty_store.api_keys.agent_of(key) is None
    assert empty_store.api_keys.revoke(record.id) is False
    assert empty_store.api_keys.revoke("no-such-key") is False


def test_creating_and_revoking_keys_is_audited_without_the_key(empty_store: Store) -> None:
    record, key = empty_store.api_keys.create("support", "U0ADMIN")
    empty_store.api_keys.revoke(record.id, "U0OTHER")

    events = [(e.event, e.actor, e.detail) for e in empty_store.audit_log.audit_events()]
    assert ("api_key_created", "U0ADMIN", {"key_id": record.id, "agent": "support"}) in events
    assert ("api_key_revoked", "U0OTHER", {"key_id": record.id}) in events
    assert key not in str(events)


def test_the_cli_creates_lists_and_revokes_keys(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    migrate(Settings(database_url=empty_database_url))

    main(["api-key", "create", "--agent", "support"])
    created = capsys.readouterr().out
    key_id = re.search(r"key id (\w+) for agent support", created)
    key = re.search(r"^(csk_\S+)$", created, re.MULTILINE)
    secret = re.search(r"^(whsec_\S+)$", created, re.MULTILINE)
    assert key_id and key and secret, created
    assert created.splitlines()[-1] == key[1]

    main(["api-key", "list"])
    listed = capsys.readouterr().out
    assert re.search(rf"^{key_id[1]}\s+support\s+\d{{4}}-\d\d-\d\d \d\d:\d\d\s+-$", listed, re.MULTILINE), listed
    assert key[1] not in listed and secret[1] not in listed

    main(["api-key", "revoke", key_id[1]])
    assert f"revoked key {key_id[1]}" in capsys.readouterr().out
    main(["api-key", "list"])
    assert re.search(rf"^{key_id[1]}\s+support\s+\S+ \S+\s+\d{{4}}-", capsys.readouterr().out, re.MULTILINE)

    with pytest.raises(SystemExit, match="no key"):
        main(["api-key", "revoke", key_id[1]])
    with pytest.raises(SystemExit, match="not an agent name"):
        main(["api-key", "create", "--agent", "bad name"])
