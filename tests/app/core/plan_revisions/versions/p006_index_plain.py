"""Locking: a plain CREATE INDEX on an existing table.

Revision ID: p006_index_plain
Revises: p005_index_concurrently
"""

from __future__ import annotations

from alembic import op

revision = "p006_index_plain"
down_revision = "p005_index_concurrently"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_plan_items_code", "plan_items", ["code"])


def downgrade() -> None:
    pass
