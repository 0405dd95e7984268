"""Sales, lead scoring: the model in force (learned or rules) with its AUC.

Revision ID: 0003_sales_scoring
Revises: 0002_sales_leads
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_graph.plugin import JsonColumn, UTCDateTimeColumn

revision: str = "0003_sales_scoring"
down_revision: str | Sequence[str] | None = "0002_sales_leads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sales_scoring_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("outcomes", sa.Integer(), nullable=False),
        sa.Column("auc", sa.Float(), nullable=True),
        sa.Column("params", JsonColumn, nullable=False),
        sa.Column("trained_at", UTCDateTimeColumn(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("sales_scoring_model")
