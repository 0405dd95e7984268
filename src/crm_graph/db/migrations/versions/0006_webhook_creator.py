"""Webhook endpoints remember who set their URL, whose grants decide what deliveries carry.

Endpoints created before this revision have no creator and deliver no payloads until someone
sets their URL again (see ``crm_graph.auth.event_access``).

Revision ID: 0006_webhook_creator
Revises: 0005_idempotency
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_webhook_creator"
down_revision: str | Sequence[str] | None = "0005_idempotency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.add_column(sa.Column("creator_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("creator_role", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("creator_user_id", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.drop_column("creator_user_id")
        batch_op.drop_column("creator_role")
        batch_op.drop_column("creator_id")
