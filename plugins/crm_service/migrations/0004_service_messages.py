"""The e-mails tickets were opened or replied to by, for threading replies (inbound e-mail).

Revision ID: 0004_service_messages
Revises: 0003_service_surveys
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_graph.plugin import UTCDateTimeColumn

revision: str = "0004_service_messages"
down_revision: str | Sequence[str] | None = "0003_service_surveys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_ticket_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("received_at", UTCDateTimeColumn(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["service_ticket.id"]),
        sa.ForeignKeyConstraint(["comment_id"], ["service_ticket_comment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    with op.batch_alter_table("service_ticket_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_ticket_message_ticket_id"), ["ticket_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("service_ticket_message")
