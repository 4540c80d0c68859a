"""Partial indexes on open actions, in claim order: a claim reads them in next_attempt_at order and stops at its
LIMIT, instead of sorting every open row (a panic of thousands made that quadratic).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_OPEN = sa.text("state <> 'done'")


def upgrade() -> None:
    op.create_index("ix_actions_open", "actions", ["next_attempt_at"], sqlite_where=_OPEN, postgresql_where=_OPEN)
    op.create_index(
        "ix_actions_panic_open",
        "actions",
        ["panic_id", "next_attempt_at"],
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_actions_panic_open", table_name="actions")
    op.drop_index("ix_actions_open", table_name="actions")
