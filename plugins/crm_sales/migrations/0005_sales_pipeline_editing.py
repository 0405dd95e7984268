"""Sales: pipelines are edited. A pipeline gets a version (updateSalesPipeline checks
expectedVersion); a removed stage is kept, marked removed, for the stage history of the deals
that went through it; so a stage's name is unique among its pipeline's live stages only (the
rule is checked on write), and the database constraint over every stage goes.

Revision ID: 0005_sales_pipeline_editing
Revises: 0004_sales_company_version
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_graph.plugin import UTCDateTimeColumn

revision: str = "0005_sales_pipeline_editing"
down_revision: str | Sequence[str] | None = "0004_sales_company_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sales_pipeline", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("sales_stage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed_at", UTCDateTimeColumn(), nullable=True))
        batch_op.drop_constraint("uq_sales_stage_name", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("sales_stage", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_sales_stage_name", ["pipeline_id", "name"])
        batch_op.drop_column("removed_at")
    with op.batch_alter_table("sales_pipeline", schema=None) as batch_op:
        batch_op.drop_column("version")
