"""Drops a column the running version could use, without the post-deployment marker: the
migration plan calls it destructive and the operator holds it until it is approved (end-to-end
tests only; the schema-contract test image adds it).

Revision ID: 0006_e2e_drop_note
Revises: 0005_e2e_add_columns
"""

from __future__ import annotations

from alembic import op

revision = "0006_e2e_drop_note"
down_revision = "0005_e2e_add_columns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("products", "e2e_note")


def downgrade() -> None:
    pass
