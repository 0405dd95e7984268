"""Analytics tables: jobs, fitted models, customer scores, segments and recommendations.

Revision ID: 0001_analytics
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_graph.plugin import JsonColumn, UTCDateTimeColumn

revision: str = "0001_analytics"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("analytics",)
depends_on: str | Sequence[str] | None = "0001_core"


def upgrade() -> None:
    op.create_table(
        "analytics_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.String(length=2000), nullable=False),
        sa.Column("as_of", UTCDateTimeColumn(), nullable=False),
        sa.Column("time_unit_days", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("updated_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("finished_at", UTCDateTimeColumn(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "analytics_model",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("trained", sa.Boolean(), nullable=False),
        sa.Column("as_of", UTCDateTimeColumn(), nullable=False),
        sa.Column("trained_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("params", JsonColumn, nullable=False),
        sa.Column("metrics", JsonColumn, nullable=False),
        sa.PrimaryKeyConstraint("kind"),
    )
    op.create_table(
        "analytics_customer_score",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("recency_days", sa.Float(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.Column("r", sa.Integer(), nullable=False),
        sa.Column("f", sa.Integer(), nullable=False),
        sa.Column("m", sa.Integer(), nullable=False),
        sa.Column("rfm_segment", sa.String(length=32), nullable=False),
        sa.Column("frequency", sa.Float(), nullable=False),
        sa.Column("recency", sa.Float(), nullable=False),
        sa.Column("age", sa.Float(), nullable=False),
        sa.Column("repeat_mean", sa.Float(), nullable=False),
        sa.Column("revenue_periods", JsonColumn, nullable=False),
        sa.Column("expected_purchases", sa.Float(), nullable=True),
        sa.Column("probability_alive", sa.Float(), nullable=True),
        sa.Column("expected_spend", sa.Float(), nullable=True),
        sa.Column("predicted_value", sa.Float(), nullable=True),
        sa.Column("churn_probability", sa.Float(), nullable=True),
        sa.Column("churn_band", sa.String(length=8), nullable=True),
        sa.Column("churn_factors", JsonColumn, nullable=True),
        sa.Column("segment", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    with op.batch_alter_table("analytics_customer_score", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_analytics_customer_score_rfm_segment"), ["rfm_segment"], unique=False
        )
    op.create_table(
        "analytics_segment",
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("centre", JsonColumn, nullable=False),
        sa.PrimaryKeyConstraint("number"),
    )
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
    op.create_table(
        "analytics_similar_product",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("similar_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=400), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"]),
        sa.ForeignKeyConstraint(["similar_id"], ["product.id"]),
        sa.PrimaryKeyConstraint("product_id", "rank"),
    )


def downgrade() -> None:
    op.drop_table("analytics_similar_product")
    op.drop_table("analytics_recommendation")
    op.drop_table("analytics_segment")
    with op.batch_alter_table("analytics_customer_score", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_customer_score_rfm_segment"))
    op.drop_table("analytics_customer_score")
    op.drop_table("analytics_model")
    op.drop_table("analytics_job")
