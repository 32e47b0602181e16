"""Locking: SET NOT NULL on an existing column scans the table.

Revision ID: p016_set_not_null
Revises: p015_foreign_key_not_valid
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p016_set_not_null"
down_revision = "p015_foreign_key_not_valid"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("plan_items", "qty", nullable=False, existing_type=sa.Integer())


def downgrade() -> None:
    pass
