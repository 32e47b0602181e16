"""Destructive: a dropped table.

Revision ID: p012_drop_table
Revises: p011_drop_column
"""

from __future__ import annotations

from alembic import op

revision = "p012_drop_table"
down_revision = "p011_drop_column"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("plan_archive")


def downgrade() -> None:
    pass
