"""Marketing tables: opens and clicks of campaign messages (touches, for attribution).

Revision ID: 0003_marketing_touches
Revises: 0002_marketing_campaigns
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_graph.plugin import UTCDateTimeColumn

revision: str = "0003_marketing_touches"
down_revision: str | Sequence[str] | None = "0002_marketing_campaigns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "marketing_touch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("occurred_at", UTCDateTimeColumn(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["marketing_campaign.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["send_id"], ["marketing_send.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("marketing_touch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketing_touch_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_marketing_touch_send_id"), ["send_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("marketing_touch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketing_touch_send_id"))
        batch_op.drop_index(batch_op.f("ix_marketing_touch_customer_id"))
    op.drop_table("marketing_touch")
