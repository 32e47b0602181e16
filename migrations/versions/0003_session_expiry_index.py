"""An index on the end of each refresh-token family, for purging ended sessions.

Built CONCURRENTLY: it does not block logins and refreshes on a large table while it builds
(and therefore runs outside the migration's transaction).

Revision ID: 0003_session_expiry_index
Revises: 0002_commerce
"""

from __future__ import annotations

from alembic import op

revision = "0003_session_expiry_index"
down_revision = "0002_commerce"
branch_labels = None
depends_on = None

INDEX = "ix_refresh_token_families_expires_at"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        # A build interrupted half-way leaves an invalid index behind: drop it and build again.
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        op.create_index(INDEX, "refresh_token_families", ["expires_at"], postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(INDEX, table_name="refresh_token_families", postgresql_concurrently=True)
