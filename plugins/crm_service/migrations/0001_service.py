"""Service tables: tickets, their status history, replies and linked interactions.

Revision ID: 0001_service
Revises:
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_graph.plugin import JsonColumn, UTCDateTimeColumn

revision: str = "0001_service"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("service",)
depends_on: str | Sequence[str] | None = "0010_users"


def _index(table: str, *columns: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        for column in columns:
            batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def upgrade() -> None:
    op.create_table(
        "service_ticket",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", sa.String(length=200), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("tags", JsonColumn, nullable=False),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("updated_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("first_response_at", UTCDateTimeColumn(), nullable=True),
        sa.Column("resolved_at", UTCDateTimeColumn(), nullable=True),
        sa.Column("closed_at", UTCDateTimeColumn(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["assignee_id"], ["auth_user.user_id"]),
        sa.ForeignKeyConstraint(["team_id"], ["auth_team.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("service_ticket", "assignee_id", "created_at", "customer_id", "status", "team_id")
    op.create_table(
        "service_ticket_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("at", UTCDateTimeColumn(), nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["service_ticket.id"]),
        sa.ForeignKeyConstraint(["actor_id"], ["auth_user.user_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("service_ticket_status", "ticket_id")
    op.create_table(
        "service_ticket_comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("from_customer", sa.Boolean(), nullable=False),
        sa.Column("author_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["service_ticket.id"]),
        sa.ForeignKeyConstraint(["author_id"], ["auth_user.user_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    _index("service_ticket_comment", "ticket_id")
    op.create_table(
        "service_ticket_interaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("interaction_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", UTCDateTimeColumn(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["service_ticket.id"]),
        sa.ForeignKeyConstraint(["interaction_id"], ["interaction.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "interaction_id"),
    )
    _index("service_ticket_interaction", "interaction_id", "ticket_id")


def downgrade() -> None:
    for table in (
        "service_ticket_interaction",
        "service_ticket_comment",
        "service_ticket_status",
        "service_ticket",
    ):
        op.drop_table(table)
