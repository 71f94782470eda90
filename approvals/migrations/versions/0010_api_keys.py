"""The approval API: its keys (hashed, one agent each, with a webhook signing secret), what it was asked (for
idempotency, the caller's report and the key whose secret signs its webhook), and a request's link to its context.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "countersign_api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("agent", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("webhook_secret", sa.String(100), nullable=False),
    )
    op.create_table(
        "countersign_api_requests",
        sa.Column("approval_id", sa.String(32), primary_key=True),
        sa.Column("agent", sa.String(200), nullable=False),
        sa.Column("idempotency_key", sa.String(200)),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(32)),
        sa.UniqueConstraint("agent", "idempotency_key", name="uq_countersign_api_requests_idempotency"),
    )
    op.add_column("countersign_approvals", sa.Column("link", sa.String(2000)))


def downgrade() -> None:
    op.drop_column("countersign_approvals", "link")
    op.drop_table("countersign_api_requests")
    op.drop_table("countersign_api_keys")
