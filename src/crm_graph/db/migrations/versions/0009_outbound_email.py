"""The outbound e-mail queue: messages queued with the change they belong to, delivered in the
background (crm_graph.mail).

Revision ID: 0009_outbound_email
Revises: 0008_scheduler
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import crm_graph.db.types

revision: str = "0009_outbound_email"
down_revision: str | Sequence[str] | None = "0008_scheduler"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "outbound_email",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("recipients", JSON, nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("headers", JSON, nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("tag", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", crm_graph.db.types.UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", crm_graph.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", crm_graph.db.types.UTCDateTime(), nullable=False),
        sa.Column("sent_at", crm_graph.db.types.UTCDateTime(), nullable=True),
        sa.Column("updated_at", crm_graph.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("outbound_email", schema=None) as batch_op:
        batch_op.create_index("ix_outbound_email_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_outbound_email_tag", ["tag", "status"], unique=False)


def downgrade() -> None:
    op.drop_table("outbound_email")
