"""Webhook deliveries: one row per verified delivery, unique per vendor delivery id and per signed content.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("plugin", sa.String(length=40), nullable=False),
        sa.Column("delivery_id", sa.String(length=200), nullable=True),
        sa.Column("signed_sha256", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=100), nullable=True),
        sa.Column("ticket_id", sa.String(length=200), nullable=True),
        sa.Column("attachments", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("source", "delivery_id", name=op.f("uq_webhook_deliveries_source_delivery_id")),
        sa.UniqueConstraint("source", "signed_sha256", name=op.f("uq_webhook_deliveries_source_signed_sha256")),
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
