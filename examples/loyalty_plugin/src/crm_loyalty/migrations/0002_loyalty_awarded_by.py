"""Each award remembers who made it: ``loyalty_entry.awarded_by``, a user id (a core user).

Awards made before this revision have no one recorded.

Revision ID: 0002_loyalty_awarded_by
Revises: 0001_loyalty
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_loyalty_awarded_by"
down_revision: str | Sequence[str] | None = "0001_loyalty"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0010_users"


def upgrade() -> None:
    with op.batch_alter_table("loyalty_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("awarded_by", sa.String(length=200), nullable=True))
        batch_op.create_foreign_key(
            "fk_loyalty_entry_awarded_by", "auth_user", ["awarded_by"], ["user_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("loyalty_entry", schema=None) as batch_op:
        batch_op.drop_constraint("fk_loyalty_entry_awarded_by", type_="foreignkey")
        batch_op.drop_column("awarded_by")
