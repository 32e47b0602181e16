"""Safe: a nullable column.

Revision ID: p001_add_nullable_column
Revises: p000_base
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p001_add_nullable_column"
down_revision = "p000_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("plan_items", sa.Column("colour", sa.String(30), nullable=True))


def downgrade() -> None:
    pass
