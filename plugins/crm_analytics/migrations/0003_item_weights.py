"""Recommendations computed when read: the served model's item weights and each category's
most bought products replace the rows stored per customer.

Revision ID: 0003_item_weights
Revises: 0002_model_versions
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_item_weights"
down_revision: str | Sequence[str] | None = "0002_model_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("analytics_recommendation")
    op.create_table(
        "analytics_item_weights",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("neighbours", sa.LargeBinary(), nullable=False),
        sa.Column("weights", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"]),
        sa.PrimaryKeyConstraint("product_id"),
    )
    op.create_table(
        "analytics_popular_in_category",
        sa.Column("category", sa.String(length=120), nullable=False),
        sa.Column("products", sa.LargeBinary(), nullable=False),
        sa.Column("shares", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("category"),
    )


def downgrade() -> None:
    op.drop_table("analytics_popular_in_category")
    op.drop_table("analytics_item_weights")
    op.create_table(
        "analytics_recommendation",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=400), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"]),
        sa.PrimaryKeyConstraint("customer_id", "rank"),
    )
