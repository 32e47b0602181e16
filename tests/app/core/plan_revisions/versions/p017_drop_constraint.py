"""Destructive: a dropped constraint another version may rely on.

Revision ID: p017_drop_constraint
Revises: p016_set_not_null
"""

from __future__ import annotations

from alembic import op

revision = "p017_drop_constraint"
down_revision = "p016_set_not_null"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("uq_plan_items_sku", "plan_items", type_="unique")


def downgrade() -> None:
    pass
