"""Safe: a new table, and a NOT NULL column added to it (no running version uses it).

Revision ID: p004_new_table_not_null
Revises: p003_add_not_null_without_default
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p004_new_table_not_null"
down_revision = "p003_add_not_null_without_default"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("plan_tags", sa.Column("id", sa.Integer(), primary_key=True))
    op.add_column("plan_tags", sa.Column("slug", sa.String(40), nullable=False))
    op.create_index("ix_plan_tags_slug", "plan_tags", ["slug"])


def downgrade() -> None:
    pass
