"""Index actions by panic: a panic of thousands of users claims and counts its actions by panic id.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_actions_panic_id"), "actions", ["panic_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_actions_panic_id"), table_name="actions")
