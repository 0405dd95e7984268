"""Marketing tables: A/B variants of a campaign and the variant each recipient got.

Revision ID: 0005_marketing_ab_tests
Revises: 0004_marketing_automations
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_marketing_ab_tests"
down_revision: str | Sequence[str] | None = "0004_marketing_automations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("marketing_campaign", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant_subject", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("variant_text_template", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("variant_html_template", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("variant_split", sa.Float(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("marketing_send", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant", sa.String(length=1), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("marketing_send", schema=None) as batch_op:
        batch_op.drop_column("variant")
    with op.batch_alter_table("marketing_campaign", schema=None) as batch_op:
        batch_op.drop_column("variant_split")
        batch_op.drop_column("variant_html_template")
        batch_op.drop_column("variant_text_template")
        batch_op.drop_column("variant_subject")
