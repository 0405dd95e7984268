"""Marketing tables: the task an automation's CREATE_TASK action created, on its run.

Revision ID: 0006_marketing_automation_tasks
Revises: 0005_marketing_ab_tests
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_marketing_automation_tasks"
down_revision: str | Sequence[str] | None = "0005_marketing_ab_tests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("marketing_automation_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_id", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("marketing_automation_run", schema=None) as batch_op:
        batch_op.drop_column("task_id")
