"""Destructive: NOT NULL without a default on an existing table.

Revision ID: p003_add_not_null_without_default
Revises: p002_add_not_null_with_default
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p003_add_not_null_without_default"
down_revision = "p002_add_not_null_with_default"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plan_items", sa.Column("weight", sa.Integer(), nullable=False))


def downgrade() -> None:
    pass
