"""Destructive: varchar(80) to varchar(10).

Revision ID: p008_narrow_varchar
Revises: p007_widen_varchar
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p008_narrow_varchar"
down_revision = "p007_widen_varchar"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("plan_items", "label", type_=sa.String(10), existing_type=sa.String(80))


def downgrade() -> None:
    pass
