"""Safe: the same constraint added NOT VALID.

Revision ID: p015_foreign_key_not_valid
Revises: p014_foreign_key
"""

from __future__ import annotations

from alembic import op

revision = "p015_foreign_key_not_valid"
down_revision = "p014_foreign_key"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE plan_items ADD CONSTRAINT fk_plan_items_owner2 FOREIGN KEY (owner_id) "
               "REFERENCES plan_owners (id) NOT VALID")


def downgrade() -> None:
    pass
