"""The scheduler's table: plugins' periodic and one-shot jobs, each run under a lease.

Revision ID: 0008_scheduler
Revises: 0007_used_tokens
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_graph.db.types import UTCDateTime

revision: str = "0008_scheduler"
down_revision: str | Sequence[str] | None = "0007_used_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduled_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plugin", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("schedule", sa.String(length=120), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("next_run_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=True),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plugin", "name", "key", name="uq_scheduled_job_key"),
    )
    op.create_index("ix_scheduled_job_due", "scheduled_job", ["status", "next_run_at"])


def downgrade() -> None:
    op.drop_index("ix_scheduled_job_due", table_name="scheduled_job")
    op.drop_table("scheduled_job")
