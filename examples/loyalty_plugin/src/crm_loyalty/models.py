"""The plugin's tables: prefixed ``loyalty_``, pointing at core customers, never altering them."""

from __future__ import annotations

from datetime import datetime

from crm_graph.plugin import Field, SQLModel, UTCDateTimeColumn, utcnow


class LoyaltyAccount(SQLModel, table=True):
    """A customer's points balance (one row per customer, created by the first award)."""

    __tablename__ = "loyalty_account"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", unique=True)
    points: int = Field(default=0)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


class LoyaltyEntry(SQLModel, table=True):
    """One award (or, negative, a redemption), kept so that a balance can always be explained."""

    __tablename__ = "loyalty_entry"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    points: int
    reason: str = Field(max_length=200)  # free text: anonymised on erasure
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    # Who awarded the points: a core user id (``UserRow.user_id``), like an owner column.
    awarded_by: str | None = Field(default=None, max_length=200, foreign_key="auth_user.user_id")


TABLES = [LoyaltyAccount, LoyaltyEntry]
