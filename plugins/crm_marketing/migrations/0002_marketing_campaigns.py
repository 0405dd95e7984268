"""Marketing tables: e-mail campaigns, their send log and the suppression list.

Revision ID: 0002_marketing_campaigns
Revises: 0001_marketing
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_graph.plugin import MoneyColumn, UTCDateTimeColumn

revision: str = "0002_marketing_campaigns"
down_revision: str | Sequence[str] | None = "0001_marketing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "marketing_campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("html_template", sa.Text(), nullable=True),
        sa.Column("text_template", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("send_rate", sa.Float(), nullable=False),
        sa.Column("cost", MoneyColumn, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("scheduled_at", UTCDateTimeColumn(), nullable=True),
        sa.Column("started_at", UTCDateTimeColumn(), nullable=True),
        sa.Column("finished_at", UTCDateTimeColumn(), nullable=True),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("updated_at", UTCDateTimeColumn(), nullable=False),
        sa.ForeignKeyConstraint(["segment_id"], ["marketing_segment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("marketing_campaign", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketing_campaign_segment_id"), ["segment_id"], unique=False
        )
    op.create_table(
        "marketing_send",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("delivered_at", UTCDateTimeColumn(), nullable=True),
        sa.Column("unsubscribed_at", UTCDateTimeColumn(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["marketing_campaign.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "customer_id"),
    )
    with op.batch_alter_table("marketing_send", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketing_send_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_marketing_send_message_id"), ["message_id"], unique=False
        )
    op.create_table(
        "marketing_suppression",
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.PrimaryKeyConstraint("address_hash"),
    )


def downgrade() -> None:
    op.drop_table("marketing_suppression")
    with op.batch_alter_table("marketing_send", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketing_send_message_id"))
        batch_op.drop_index(batch_op.f("ix_marketing_send_customer_id"))
    op.drop_table("marketing_send")
    with op.batch_alter_table("marketing_campaign", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketing_campaign_segment_id"))
    op.drop_table("marketing_campaign")
