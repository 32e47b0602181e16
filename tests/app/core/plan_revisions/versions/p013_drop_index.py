"""Destructive and locking: a dropped index, not concurrently.

Revision ID: p013_drop_index
Revises: p012_drop_table
"""

from __future__ import annotations

from alembic import op

revision = "p013_drop_index"
down_revision = "p012_drop_table"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_plan_items_name", table_name="plan_items")


def downgrade() -> None:
    pass
