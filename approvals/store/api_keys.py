"""The approval API's keys and what it was asked: keys kept as their SHA-256 only, each for one agent and with a
webhook signing secret; and one row per approval the API created, keyed by the caller's idempotency key, with the
caller's report and the key that asked."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from approvals.models import utcnow
from approvals.store.audit_log import record_audit
from approvals.store.database import Database
from approvals.tables import api_keys, api_requests

KEY_PREFIX = "csk_"
SECRET_PREFIX = "whsec_"


def key_hash(key: str) -> str:
    """The SHA-256 (hex) of a key: all that is stored of it."""
    return hashlib.sha256(key.encode("utf-8", errors="replace")).hexdigest()


class ApiKey(BaseModel):
    """A stored key, without the key itself (and without its webhook secret, except as `create` made it)."""

    model_config = ConfigDict(frozen=True)

    id: str
    agent: str
    created_at: datetime
    created_by: str | None = None
    revoked_at: datetime | None = None
    webhook_secret: str | None = Field(None, repr=False)


_LISTED = [name for name in ApiKey.model_fields if name != "webhook_secret"]


class Webhook(BaseModel):
    """Where an approval's decision is POSTed, and the secret that signs it."""

    model_config = ConfigDict(frozen=True)

    url: str
    secret: str


class ApiRequest(BaseModel):
    """What the API was asked for one approval, and the caller's report once made."""

    model_config = ConfigDict(frozen=True)

    approval_id: str
    agent: str
    idempotency_key: str | None
    body: dict[str, Any]
    result: dict[str, Any] | None = None
    created_at: datetime
    key_id: str | None = None


class ApiKeys:
    """Creating, listing, revoking and checking API keys; recording and reading what the API was asked."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, agent: str, created_by: str | None = None) -> tuple[ApiKey, str]:
        """A new key for `agent`: its record (with its webhook secret) and the key itself, which is not kept and
        cannot be shown again."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(
            id=uuid.uuid4().hex[:16],
            agent=agent,
            created_at=utcnow(),
            created_by=created_by,
            webhook_secret=SECRET_PREFIX + secrets.token_urlsafe(32),
        )
        with self.db.writing() as conn:
            conn.execute(insert(api_keys).values(**record.model_dump(), key_hash=key_hash(key)))
            record_audit(conn, "api_key_created", None, created_by, {"key_id": record.id, "agent": agent})
        return record, key

    def all(self) -> list[ApiKey]:
        """Every key, oldest first."""
        query = select(*(api_keys.c[name] for name in _LISTED)).order_by(api_keys.c.created_at, api_keys.c.id)
        with self.db.engine.connect() as conn:
            return [ApiKey(**row) for row in conn.execute(query).mappings()]

    def revoke(self, key_id: str, revoked_by: str | None = None) -> bool:
        """Revoke a key (from now on it is refused); False when there is no such key not yet revoked."""
        with self.db.writing() as conn:
            changed = conn.execute(
                update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)).values(revoked_at=utcnow())
            ).rowcount
            if changed:
                record_audit(conn, "api_key_revoked", None, revoked_by, {"key_id": key_id})
        return bool(changed)

    def key_of(self, key: str) -> ApiKey | None:
        """The record of a presented key (without its secret); None when the key is unknown or revoked."""
        presented = key_hash(key)
        query = select(*(api_keys.c[name] for name in _LISTED), api_keys.c.key_hash).where(
            api_keys.c.key_hash == presented, api_keys.c.revoked_at.is_(None)
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        # The lookup is by a hash of a high-entropy key; the comparison is constant-time all the same.
        if row is None or not hmac.compare_digest(row["key_hash"], presented):
            return None
        return ApiKey(**{name: row[name] for name in _LISTED})

    def agent_of(self, key: str) -> str | None:
        """The agent a presented key acts for; None when the key is unknown or revoked."""
        record = self.key_of(key)
        return record.agent if record is not None else None

    # What the API was asked

    def ask(
        self, approval_id: str, agent: str, idempotency_key: str | None, body: dict[str, Any], key_id: str | None = None
    ) -> ApiRequest:
        """Record what was asked under `approval_id` (by the key `key_id`); when the agent asked with this
        idempotency key before, the earlier record instead."""
        row = ApiRequest(
            approval_id=approval_id, agent=agent, idempotency_key=idempotency_key, body=body, created_at=utcnow(), key_id=key_id
        )
        if idempotency_key is not None and (earlier := self.asked_with(agent, idempotency_key)) is not None:
            return earlier
        try:
            with self.db.writing() as conn:
                conn.execute(insert(api_requests).values(**row.model_dump(exclude={"result"})))
        except IntegrityError:
            # Asked twice at once with one key: the other request stored it first.
            if idempotency_key is None or (earlier := self.asked_with(agent, idempotency_key)) is None:
                raise
            return earlier
        return row

    def asked_with(self, agent: str, idempotency_key: str) -> ApiRequest | None:
        """The request `agent` made with this idempotency key, if it made one."""
        query = select(api_requests).where(api_requests.c.agent == agent, api_requests.c.idempotency_key == idempotency_key)
        with self.db.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return ApiRequest(**row) if row is not None else None

    def asked(self, approval_id: str) -> ApiRequest | None:
        """What the API was asked for this approval; None when the API did not create it."""
        with self.db.engine.connect() as conn:
            row = conn.execute(select(api_requests).where(api_requests.c.approval_id == approval_id)).mappings().first()
        return ApiRequest(**row) if row is not None else None

    def report(self, approval_id: str, agent: str, result: dict[str, Any]) -> None:
        """Store the caller's report of what it did with the decision, and audit it in the same transaction."""
        with self.db.writing() as conn:
            conn.execute(update(api_requests).where(api_requests.c.approval_id == approval_id).values(result=result))
            record_audit(conn, "api_result", approval_id, None, {"agent": agent, **result})

    def webhook_of(self, approval_id: str) -> Webhook | None:
        """Where this approval's decision is POSTed and the asking key's secret; None without a callback URL."""
        query = (
            select(api_requests.c.body, api_keys.c.webhook_secret)
            .join(api_keys, api_keys.c.id == api_requests.c.key_id)
            .where(api_requests.c.approval_id == approval_id)
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        url = row.body.get("callback_url") if row is not None else None
        return Webhook(url=url, secret=row.webhook_secret) if row is not None and url else None
