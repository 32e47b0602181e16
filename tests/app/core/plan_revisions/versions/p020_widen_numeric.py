"""Safe: numeric(10,2) to numeric(14,2) widens without a rewrite.

Revision ID: p020_widen_numeric
Revises: p019_backfill
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p020_widen_numeric"
down_revision = "p019_backfill"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("plan_items", "price", type_=sa.Numeric(14, 2), existing_type=sa.Numeric(10, 2))


def downgrade() -> None:
    pass
