"""Locking: integer to bigint widens but rewrites the table.

Revision ID: p009_integer_to_bigint
Revises: p008_narrow_varchar
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p009_integer_to_bigint"
down_revision = "p008_narrow_varchar"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("plan_items", "stock", type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    pass
