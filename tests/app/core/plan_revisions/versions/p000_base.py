"""The tables the other revisions change.

Revision ID: p000_base
Revises: None
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p000_base"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("note", sa.String(200)),
        sa.Column("qty", sa.Integer()),
        sa.Column("price", sa.Numeric(10, 2)),
        sa.Column("legacy", sa.Text()),
        sa.Column("code", sa.String(20)),
        sa.Column("sku", sa.String(40)),
        sa.Column("label", sa.String(80)),
        sa.Column("owner_id", sa.Integer()),
        sa.Column("stock", sa.Integer()),
        sa.Column("old_flag", sa.Boolean()),
    )
    op.create_table("plan_owners", sa.Column("id", sa.Integer(), primary_key=True))
    op.create_table("plan_archive", sa.Column("id", sa.Integer(), primary_key=True))
    op.create_table("plan_renamed", sa.Column("id", sa.Integer(), primary_key=True))
    op.create_index("ix_plan_items_name", "plan_items", ["name"])
    op.create_unique_constraint("uq_plan_items_sku", "plan_items", ["sku"])


def downgrade() -> None:
    pass
