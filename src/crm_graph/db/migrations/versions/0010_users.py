"""Users and teams as data: every owner id and API key user becomes a user.

Users already named by ``customer.owner_id`` or ``auth_api_key.user_id`` get a row (named
after their id), so owner ids keep meaning who they meant. Teams start empty here: the server
seeds them from ``CRM_TEAMS`` at startup (see ``crm_graph.domain.teams``).

Revision ID: 0010_users
Revises: 0009_outbound_email
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC as UTC_ZONE
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import crm_graph.db.types

revision: str = "0010_users"
down_revision: str | Sequence[str] | None = "0009_outbound_email"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = crm_graph.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "auth_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("last_seen_at", UTC(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id"),
    )
    op.create_table(
        "auth_team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "auth_team_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("added_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["auth_team.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["auth_user.user_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "user_id"),
    )
    with op.batch_alter_table("auth_team_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_team_member_user_id"), ["user_id"], unique=False)
    # Everyone an owner id or a key names already is a user.
    customer = sa.table("customer", sa.column("owner_id", sa.String()))
    key = sa.table("auth_api_key", sa.column("user_id", sa.String()))
    user = sa.table(
        "auth_user",
        *(sa.column(name) for name in ("user_id", "name", "active", "version")),
        sa.column("created_at", UTC()),
    )
    named = sa.union(
        sa.select(customer.c.owner_id.label("user_id")).where(customer.c.owner_id.is_not(None)),
        sa.select(key.c.user_id),
    ).subquery()
    now = sa.literal(datetime.now(UTC_ZONE), UTC())
    op.execute(
        user.insert().from_select(
            ["user_id", "name", "active", "version", "created_at"],
            sa.select(named.c.user_id, named.c.user_id, sa.true(), sa.literal(1), now),
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("auth_team_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_team_member_user_id"))
    op.drop_table("auth_team_member")
    op.drop_table("auth_team")
    op.drop_table("auth_user")
