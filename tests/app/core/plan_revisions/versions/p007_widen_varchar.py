"""Safe: varchar(200) to varchar(500), no rewrite.

Revision ID: p007_widen_varchar
Revises: p006_index_plain
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p007_widen_varchar"
down_revision = "p006_index_plain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("plan_items", "note", type_=sa.String(500), existing_type=sa.String(200))


def downgrade() -> None:
    pass
