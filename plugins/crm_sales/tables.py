"""The sales tables: prefixed ``sales_``, pointing at core customers and users, never altering
them. Amounts are ``MoneyColumn`` with their own currency column (no silent conversion)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import Column, Integer, UniqueConstraint

from crm_graph.plugin import Field, MoneyColumn, SQLModel, UTCDateTimeColumn, utcnow

# Stage kinds: a deal in a WON or LOST stage is closed.
OPEN, WON, LOST = "open", "won", "lost"


class SalesPipeline(SQLModel, table=True):
    """A sales process: its stages, in order, take a deal from first contact to won or lost."""

    __tablename__ = "sales_pipeline"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    position: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


class SalesStage(SQLModel, table=True):
    """One step of a pipeline, with the probability that a deal in it is won (percent)."""

    __tablename__ = "sales_stage"
    __table_args__ = (UniqueConstraint("pipeline_id", "name", name="uq_sales_stage_name"),)

    id: int | None = Field(default=None, primary_key=True)
    pipeline_id: int = Field(foreign_key="sales_pipeline.id", index=True)
    name: str = Field(max_length=100)
    position: int
    probability: int  # 0..100; 100 for a won stage, 0 for a lost one
    kind: str = Field(default=OPEN, max_length=8)


_deal_version = Column("version", Integer, nullable=False, default=1)


class SalesDeal(SQLModel, table=True):
    """An opportunity to sell to a customer: its amount, stage, owner and close date."""

    __tablename__ = "sales_deal"
    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": _deal_version}

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    pipeline_id: int = Field(foreign_key="sales_pipeline.id", index=True)
    stage_id: int = Field(foreign_key="sales_stage.id", index=True)
    status: str = Field(default=OPEN, max_length=8, index=True)  # the stage's kind
    amount: Decimal = Field(sa_column=Column(MoneyColumn, nullable=False))
    currency: str = Field(max_length=3)
    expected_close_date: date | None = Field(default=None, index=True)
    owner_id: str | None = Field(
        default=None, max_length=200, foreign_key="auth_user.user_id", index=True
    )
    lost_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    stage_entered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)
    version: int = Field(default=1, sa_column=_deal_version)


class SalesDealStageChange(SQLModel, table=True):
    """A deal entering a stage (the first row: its creation), kept so that time in stage and
    cycle time are measured, not guessed."""

    __tablename__ = "sales_deal_stage_change"

    id: int | None = Field(default=None, primary_key=True)
    deal_id: int = Field(foreign_key="sales_deal.id", index=True)
    from_stage_id: int | None = Field(default=None, foreign_key="sales_stage.id")
    to_stage_id: int = Field(foreign_key="sales_stage.id")
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    changed_by: str | None = Field(default=None, max_length=200)


TABLES = [SalesPipeline, SalesStage, SalesDeal, SalesDealStageChange]
