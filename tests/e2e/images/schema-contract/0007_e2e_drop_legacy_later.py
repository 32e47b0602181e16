"""The contract step of expand/contract: drops a column only once no pod of the old version
runs (end-to-end tests only; the schema-contract test image adds it).

Revision ID: 0007_e2e_drop_legacy_later
Revises: 0006_e2e_drop_note
"""

from __future__ import annotations

from alembic import op

revision = "0007_e2e_drop_legacy_later"
down_revision = "0006_e2e_drop_note"
branch_labels = None
depends_on = None

# Runs only after the new version is fully rolled out and the old pods are gone (docs/operator.md).
post_deployment = True


def upgrade() -> None:
    op.drop_column("products", "e2e_legacy")


def downgrade() -> None:
    pass
