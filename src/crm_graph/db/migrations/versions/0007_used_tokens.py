"""Used single-use link tokens: a row per token, so a second use is refused.

Revision ID: 0007_used_tokens
Revises: 0006_webhook_creator
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_graph.db.types

revision: str = "0007_used_tokens"
down_revision: str | Sequence[str] | None = "0006_webhook_creator"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "used_token",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("used_at", crm_graph.db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", crm_graph.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("used_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_used_token_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("used_token")
