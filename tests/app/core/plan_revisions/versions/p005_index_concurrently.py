"""Safe: an index built CONCURRENTLY.

Revision ID: p005_index_concurrently
Revises: p004_new_table_not_null
"""

from __future__ import annotations

from alembic import op

revision = "p005_index_concurrently"
down_revision = "p004_new_table_not_null"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index("ix_plan_items_qty", "plan_items", ["qty"], postgresql_concurrently=True)


def downgrade() -> None:
    pass
