"""Destructive but post-deployment: the contract step of expand/contract.

Revision ID: p021_contract
Revises: p020_widen_numeric
"""

from __future__ import annotations

from alembic import op

revision = "p021_contract"
down_revision = "p020_widen_numeric"
branch_labels = None
depends_on = None

# Runs only after the new version is fully rolled out (docs/operator.md, expand/contract).
post_deployment = True


def upgrade() -> None:
    op.drop_column("plan_items", "code")


def downgrade() -> None:
    pass
