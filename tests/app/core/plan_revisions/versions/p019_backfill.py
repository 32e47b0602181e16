"""Safe: a backfill of some rows (a data statement with WHERE).

Revision ID: p019_backfill
Revises: p018_rename_table
"""

from __future__ import annotations

from alembic import op

revision = "p019_backfill"
down_revision = "p018_rename_table"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE plan_items SET colour = 'none' WHERE colour IS NULL")


def downgrade() -> None:
    pass
