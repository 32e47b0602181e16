"""A migration that always fails, for the end-to-end tests only (never in the repository's
migrations/: the broken-migration test image adds it).

It follows the repository's head; tests/packaging/test_node_images.py fails when a new
migration makes it stale.

Revision ID: 0005_e2e_broken_migration
Revises: 0004_outbox_webhooks
"""

from __future__ import annotations

from alembic import op

revision = "0005_e2e_broken_migration"
down_revision = "0004_outbox_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not SQL: PostgreSQL rejects it with a syntax error, and the transaction rolls back.
    op.execute("THIS IS NOT SQL: the deliberately broken migration of the e2e tests")


def downgrade() -> None:
    pass
