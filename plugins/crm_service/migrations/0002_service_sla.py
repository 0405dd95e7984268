"""SLAs: business-hours calendars, policies per priority, the notices sent (once each), and
each ticket's policy, next deadline and breach flag.

Revision ID: 0002_service_sla
Revises: 0001_service
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_graph.plugin import JsonColumn, UTCDateTimeColumn

revision: str = "0002_service_sla"
down_revision: str | Sequence[str] | None = "0001_service"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "service_calendar",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("hours", JsonColumn, nullable=False),
        sa.Column("holidays", JsonColumn, nullable=False),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "service_sla_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=False),
        sa.Column("targets", JsonColumn, nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.ForeignKeyConstraint(["calendar_id"], ["service_calendar.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "service_sla_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("due_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("noticed_at", UTCDateTimeColumn(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["service_ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "target", "kind"),
    )
    with op.batch_alter_table("service_sla_notice", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_sla_notice_ticket_id"), ["ticket_id"], unique=False
        )
    with op.batch_alter_table("service_ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sla_policy_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sla_due_at", UTCDateTimeColumn(), nullable=True))
        batch_op.add_column(
            sa.Column("sla_breached", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_foreign_key(
            "fk_service_ticket_sla_policy_id", "service_sla_policy", ["sla_policy_id"], ["id"]
        )
        batch_op.create_index(
            batch_op.f("ix_service_ticket_sla_due_at"), ["sla_due_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("service_ticket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_ticket_sla_due_at"))
        batch_op.drop_constraint("fk_service_ticket_sla_policy_id", type_="foreignkey")
        batch_op.drop_column("sla_breached")
        batch_op.drop_column("sla_due_at")
        batch_op.drop_column("sla_policy_id")
    op.drop_table("service_sla_notice")
    op.drop_table("service_sla_policy")
    op.drop_table("service_calendar")
