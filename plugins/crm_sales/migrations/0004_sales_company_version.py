"""Sales: companies get a version (updateCompany checks expectedVersion) and an update time.

Revision ID: 0004_sales_company_version
Revises: 0003_sales_scoring
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_graph.plugin import UTCDateTimeColumn

revision: str = "0004_sales_company_version"
down_revision: str | Sequence[str] | None = "0003_sales_scoring"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sales_company", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("updated_at", UTCDateTimeColumn(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sales_company", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("version")
