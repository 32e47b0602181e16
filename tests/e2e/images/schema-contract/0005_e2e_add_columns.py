"""Expand: two nullable columns on products, for the end-to-end tests of migration safety only
(never in the repository's migrations/: the schema-expand and schema-contract test images add
it; both carry this same file, and tests/packaging/test_node_images.py checks they agree).

Revision ID: 0005_e2e_add_columns
Revises: 0004_outbox_webhooks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_e2e_add_columns"
down_revision = "0004_outbox_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("products", sa.Column("e2e_note", sa.Text(), nullable=True))
    op.add_column("products", sa.Column("e2e_legacy", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("products", "e2e_legacy")
    op.drop_column("products", "e2e_note")
