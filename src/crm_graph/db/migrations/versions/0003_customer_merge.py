"""Customer merges: which customer went into which survivor, keeping its external id as an alias.

Revision ID: 0003_customer_merge
Revises: 0002_events
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_graph.db.types

revision: str = "0003_customer_merge"
down_revision: str | Sequence[str] | None = "0002_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_merge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merged_id", sa.Integer(), nullable=False),
        sa.Column("survivor_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("merged_at", crm_graph.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["merged_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["survivor_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_id"),
        sa.UniqueConstraint("merged_id"),
    )
    with op.batch_alter_table("customer_merge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_merge_survivor_id"), ["survivor_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("customer_merge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_merge_survivor_id"))
    op.drop_table("customer_merge")
