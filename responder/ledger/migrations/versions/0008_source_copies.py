"""Sanitized copies responder attaches, by SHA-256, recorded before the upload so a crash between the vendor's
answer and the ledger write cannot make a later sweep scan our own copy as a new capture.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_copies",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "sha256", name=op.f("pk_source_copies")),
    )


def downgrade() -> None:
    op.drop_table("source_copies")
