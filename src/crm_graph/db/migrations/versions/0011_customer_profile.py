"""Customer profile: postal addresses, birth date, preferred language and time zone.

Revision ID: 0011_customer_profile
Revises: 0010_users
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011_customer_profile"
down_revision: str | Sequence[str] | None = "0010_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("addresses", json, nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.add_column(sa.Column("birth_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("preferred_language", sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.alter_column("addresses", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
        batch_op.drop_column("preferred_language")
        batch_op.drop_column("birth_date")
        batch_op.drop_column("addresses")
