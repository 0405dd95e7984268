"""The duplicate finder's tables: blocking keys, kept pairs, dismissals and fitted models.

Revision ID: 0012_duplicates
Revises: 0011_customer_profile
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import crm_graph.db.types

revision: str = "0012_duplicates"
down_revision: str | Sequence[str] | None = "0011_customer_profile"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = crm_graph.db.types.UTCDateTime


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "customer_match_key",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("customer_id", "key"),
    )
    op.create_index("ix_customer_match_key_key", "customer_match_key", ["key"])
    op.create_table(
        "customer_duplicate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", _json(), nullable=False),
        sa.Column("found_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["other_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "other_id"),
    )
    op.create_index("ix_customer_duplicate_score", "customer_duplicate", ["score"])
    op.create_index("ix_customer_duplicate_other_id", "customer_duplicate", ["other_id"])
    op.create_table(
        "customer_duplicate_dismissal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=False),
        sa.Column("dismissed_by", sa.String(length=200), nullable=True),
        sa.Column("dismissed_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["other_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "other_id"),
    )
    op.create_index(
        "ix_customer_duplicate_dismissal_other_id", "customer_duplicate_dismissal", ["other_id"]
    )
    op.create_table(
        "duplicate_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", _json(), nullable=False),
        sa.Column("fitted_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("duplicate_model")
    op.drop_index("ix_customer_duplicate_dismissal_other_id", "customer_duplicate_dismissal")
    op.drop_table("customer_duplicate_dismissal")
    op.drop_index("ix_customer_duplicate_other_id", "customer_duplicate")
    op.drop_index("ix_customer_duplicate_score", "customer_duplicate")
    op.drop_table("customer_duplicate")
    op.drop_index("ix_customer_match_key_key", "customer_match_key")
    op.drop_table("customer_match_key")
