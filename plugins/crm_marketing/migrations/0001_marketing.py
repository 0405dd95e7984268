"""Marketing tables: audience segments and their members.

Revision ID: 0001_marketing
Revises:
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_graph.plugin import JsonColumn, UTCDateTimeColumn

revision: str = "0001_marketing"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("marketing",)
depends_on: str | Sequence[str] | None = "0001_core"


def upgrade() -> None:
    op.create_table(
        "marketing_segment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("filter", JsonColumn, nullable=True),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("updated_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("refreshed_at", UTCDateTimeColumn(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "marketing_segment_member",
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("added_at", UTCDateTimeColumn(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["segment_id"], ["marketing_segment.id"]),
        sa.PrimaryKeyConstraint("segment_id", "customer_id"),
    )
    with op.batch_alter_table("marketing_segment_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketing_segment_member_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("marketing_segment_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketing_segment_member_customer_id"))
    op.drop_table("marketing_segment_member")
    op.drop_table("marketing_segment")
