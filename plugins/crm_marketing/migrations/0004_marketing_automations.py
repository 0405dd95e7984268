"""Marketing tables: automations and their runs (one per customer and automation).

Revision ID: 0004_marketing_automations
Revises: 0003_marketing_touches
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_graph.plugin import JsonColumn, UTCDateTimeColumn

revision: str = "0004_marketing_automations"
down_revision: str | Sequence[str] | None = "0003_marketing_touches"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "marketing_automation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=64), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=True),
        sa.Column("condition", JsonColumn, nullable=True),
        sa.Column("delay_seconds", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("sender", sa.String(length=320), nullable=True),
        sa.Column("text_template", sa.Text(), nullable=True),
        sa.Column("html_template", sa.Text(), nullable=True),
        sa.Column("tag", sa.String(length=100), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.ForeignKeyConstraint(["segment_id"], ["marketing_segment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "marketing_automation_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("automation_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("due_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("done_at", UTCDateTimeColumn(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["automation_id"], ["marketing_automation.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("automation_id", "customer_id"),
    )
    with op.batch_alter_table("marketing_automation_run", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketing_automation_run_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("marketing_automation_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketing_automation_run_customer_id"))
    op.drop_table("marketing_automation_run")
    op.drop_table("marketing_automation")
