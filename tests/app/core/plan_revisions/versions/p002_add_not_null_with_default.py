"""Safe: NOT NULL with a constant server default (no rewrite since PostgreSQL 11).

Revision ID: p002_add_not_null_with_default
Revises: p001_add_nullable_column
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p002_add_not_null_with_default"
down_revision = "p001_add_nullable_column"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plan_items", sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    pass
