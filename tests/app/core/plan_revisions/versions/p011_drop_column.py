"""Destructive: a dropped column.

Revision ID: p011_drop_column
Revises: p010_rename_column
"""

from __future__ import annotations

from alembic import op

revision = "p011_drop_column"
down_revision = "p010_rename_column"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("plan_items", "old_flag")


def downgrade() -> None:
    pass
