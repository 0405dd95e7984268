"""Sales tables: pipelines with their stages, deals and their stage history; the default
pipeline (HubSpot's default sales pipeline and its probabilities).

Revision ID: 0001_sales
Revises:
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from crm_graph.plugin import MoneyColumn, UTCDateTimeColumn

revision: str = "0001_sales"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("sales",)
depends_on: str | Sequence[str] | None = "0010_users"

DEFAULT_STAGES = [
    ("Appointment scheduled", 20, "open"),
    ("Qualified to buy", 40, "open"),
    ("Presentation scheduled", 60, "open"),
    ("Decision maker bought-in", 80, "open"),
    ("Contract sent", 90, "open"),
    ("Closed won", 100, "won"),
    ("Closed lost", 0, "lost"),
]


def upgrade() -> None:
    pipeline = op.create_table(
        "sales_pipeline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    stage = op.create_table(
        "sales_stage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(["pipeline_id"], ["sales_pipeline.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pipeline_id", "name", name="uq_sales_stage_name"),
    )
    op.create_index("ix_sales_stage_pipeline_id", "sales_stage", ["pipeline_id"])
    op.create_table(
        "sales_deal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("amount", MoneyColumn, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("expected_close_date", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.String(length=200), nullable=True),
        sa.Column("lost_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("updated_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("stage_entered_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("closed_at", UTCDateTimeColumn(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["pipeline_id"], ["sales_pipeline.id"]),
        sa.ForeignKeyConstraint(["stage_id"], ["sales_stage.id"]),
        sa.ForeignKeyConstraint(["owner_id"], ["auth_user.user_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in (
        "customer_id",
        "pipeline_id",
        "stage_id",
        "status",
        "expected_close_date",
        "owner_id",
    ):
        op.create_index(f"ix_sales_deal_{column}", "sales_deal", [column])
    op.create_table(
        "sales_deal_stage_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column("from_stage_id", sa.Integer(), nullable=True),
        sa.Column("to_stage_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["deal_id"], ["sales_deal.id"]),
        sa.ForeignKeyConstraint(["from_stage_id"], ["sales_stage.id"]),
        sa.ForeignKeyConstraint(["to_stage_id"], ["sales_stage.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sales_deal_stage_change_deal_id", "sales_deal_stage_change", ["deal_id"])
    now = datetime.now(UTC)
    op.bulk_insert(pipeline, [{"name": "Sales pipeline", "position": 0, "created_at": now}])
    pipeline_id = op.get_bind().execute(sa.select(pipeline.c.id)).scalar_one()
    op.bulk_insert(
        stage,
        [
            {
                "pipeline_id": pipeline_id,
                "name": name,
                "position": i,
                "probability": p,
                "kind": kind,
            }
            for i, (name, p, kind) in enumerate(DEFAULT_STAGES)
        ],
    )


def downgrade() -> None:
    op.drop_table("sales_deal_stage_change")
    op.drop_table("sales_deal")
    op.drop_table("sales_stage")
    op.drop_table("sales_pipeline")
