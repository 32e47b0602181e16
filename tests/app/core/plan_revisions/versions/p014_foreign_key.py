"""Locking: a validated foreign key scans the table under a lock.

Revision ID: p014_foreign_key
Revises: p013_drop_index
"""

from __future__ import annotations

from alembic import op

revision = "p014_foreign_key"
down_revision = "p013_drop_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_foreign_key("fk_plan_items_owner", "plan_items", "plan_owners", ["owner_id"], ["id"])


def downgrade() -> None:
    pass
