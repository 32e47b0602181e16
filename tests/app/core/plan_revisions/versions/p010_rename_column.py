"""Destructive: a rename breaks the running version's queries.

Revision ID: p010_rename_column
Revises: p009_integer_to_bigint
"""

from __future__ import annotations

from alembic import op

revision = "p010_rename_column"
down_revision = "p009_integer_to_bigint"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("plan_items", "legacy", new_column_name="legacy_text")


def downgrade() -> None:
    pass
