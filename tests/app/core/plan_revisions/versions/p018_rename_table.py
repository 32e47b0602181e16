"""Destructive: a renamed table.

Revision ID: p018_rename_table
Revises: p017_drop_constraint
"""

from __future__ import annotations

from alembic import op

revision = "p018_rename_table"
down_revision = "p017_drop_constraint"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.rename_table("plan_renamed", "plan_renamed_new")


def downgrade() -> None:
    pass
