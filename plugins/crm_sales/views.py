"""GraphQL types of pipelines and deals.

A deal and a stage are their rows (the root value): plain fields are columns, a few are
functions of the row alone (the global ID, the amount as money, the status), and fields
reaching other rows (stage, customer, owner, history) use the field contract, so the compiled
read path writes them wherever they appear (the ``deals`` list, batch fields returning deals).
A pipeline is its row too, its live stages a batch field.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from crm_graph.plugin import (
    CustomerRow,
    CustomerType,
    MoneyType,
    Node,
    Related,
    RequestContext,
    UserType,
    batch_field,
    money,
    requires,
    table_field,
    to_global_id,
    user_of,
    utcnow,
)
from crm_sales import deals as deal_rules
from crm_sales import pipelines, quotes
from crm_sales.config import DEALS_READ, QUOTES_READ

if TYPE_CHECKING:
    from crm_sales.quote_schema import QuoteType
from crm_sales.tables import (
    SalesDeal,
    SalesDealStageChange,
    SalesPipeline,
    SalesQuote,
    SalesStage,
)


@strawberry.enum(name="SalesStageKind", description="Whether a deal in the stage is still open.")
class StageKind(Enum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


@strawberry.type(name="SalesStage", description="A step of a pipeline.")
class SalesStageType(Node):
    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, SalesStage)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("SalesStage", self.id))  # type: ignore[attr-defined]

    name: str
    position: int = strawberry.field(description="0 for the pipeline's first stage.")
    probability: int = strawberry.field(
        description="Win probability of a deal in this stage, in percent (100 won, 0 lost)."
    )

    @strawberry.field
    def kind(self) -> StageKind:
        return StageKind(self.kind)  # type: ignore[arg-type]


async def pipeline_stages(
    rows: list[SalesPipeline], context: RequestContext
) -> list[list[SalesStage]]:
    """Each pipeline's live stages, in order (one statement for all pipelines of a level)."""
    async with context.app.read() as session:
        found = await pipelines.stages_of(session, [p.id for p in rows])  # type: ignore[misc]
    return [found[p.id] for p in rows]  # type: ignore[index]


def _pipeline_id(root: SalesPipeline) -> strawberry.ID:
    return strawberry.ID(to_global_id("SalesPipeline", root.id))  # type: ignore[arg-type]


@strawberry.type(name="SalesPipeline", description="A sales process: its stages, in order.")
class SalesPipelineType(Node):
    """Over a :class:`SalesPipeline` row (the root value)."""

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, SalesPipeline)

    id: strawberry.ID = strawberry.field(resolver=_pipeline_id)
    name: str
    position: int
    version: int = strawberry.field(description="Give it as expectedVersion when changing it.")
    stages: list[SalesStageType] = batch_field(pipeline_stages)


@strawberry.enum(name="DealStatus")
class DealStatus(Enum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


@strawberry.type(name="DealStageChange", description="A deal entering a stage.")
class DealStageChangeType:
    from_stage: SalesStageType | None = strawberry.field(
        description="The stage it left; null when the deal was created."
    )
    stage: SalesStageType
    entered_at: datetime
    left_at: datetime | None = strawberry.field(description="Null for the current stage.")
    seconds_in_stage: int = strawberry.field(
        description="Time spent in the stage: until it was left, or until now."
    )
    changed_by: str | None = strawberry.field(description="The user id who moved the deal.")


async def stage_histories(
    deals: list[SalesDeal], context: RequestContext
) -> list[list[DealStageChangeType]]:
    """Every deal's stage changes, oldest first, with the time spent in each stage."""
    now = utcnow()
    async with context.app.read() as session:
        changes = await deal_rules.stage_history(session, [d.id for d in deals])
        stage_ids = {c.to_stage_id for cs in changes.values() for c in cs}
        stage_ids |= {c.from_stage_id for cs in changes.values() for c in cs if c.from_stage_id}
        stages = await pipelines.stages_by_id(session, stage_ids)
    return [_history(changes[d.id], stages, now) for d in deals]


def _history(
    changes: list[SalesDealStageChange], stages: dict[int, SalesStage], now: datetime
) -> list[DealStageChangeType]:
    out = []
    for index, change in enumerate(changes):
        left = changes[index + 1].changed_at if index + 1 < len(changes) else None
        out.append(
            DealStageChangeType(
                from_stage=stages[change.from_stage_id]  # type: ignore[arg-type]
                if change.from_stage_id
                else None,
                stage=stages[change.to_stage_id],  # type: ignore[arg-type]
                entered_at=change.changed_at,
                left_at=left,
                seconds_in_stage=int(((left or now) - change.changed_at).total_seconds()),
                changed_by=change.changed_by,
            )
        )
    return out


async def deal_quotes(deals: list[SalesDeal], context: RequestContext) -> list[list[SalesQuote]]:
    """Each deal's quotes (one statement for all deals of a level)."""
    async with context.app.read() as session:
        found = await quotes.quotes_of(session, [d.id for d in deals])
    return [found[d.id] for d in deals]


def _deal_amount(root: SalesDeal) -> MoneyType:
    return money(root.amount, root.currency)


def _deal_status(root: SalesDeal) -> DealStatus:
    return DealStatus(root.status)


@strawberry.type(name="Deal", description="An opportunity to sell to a customer.")
class DealType(Node):
    """Over a :class:`SalesDeal` row (the root value)."""

    @classmethod
    def is_type_of(cls, obj: Any, _info: Any) -> bool:
        return isinstance(obj, SalesDeal)

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Deal", self.id))  # type: ignore[attr-defined]

    name: str
    amount: MoneyType = strawberry.field(resolver=_deal_amount)
    expected_close_date: date | None
    status: DealStatus = strawberry.field(resolver=_deal_status)
    stage: SalesStageType = table_field(Related(SalesStage, key="id", parent_key="stage_id"))
    lost_reason: str | None
    created_at: datetime
    updated_at: datetime
    stage_entered_at: datetime = strawberry.field(description="When the deal entered its stage.")
    closed_at: datetime | None = strawberry.field(description="When it was won or lost.")
    version: int = strawberry.field(description="Give it as expectedVersion when changing it.")

    customer: CustomerType | None = table_field(
        Related(CustomerRow, key="id", parent_key="customer_id"),
        description="The customer the deal is with (null outside your customers' scope).",
        metadata=requires("customers:read"),
    )
    owner: UserType | None = table_field(
        user_of("owner_id"),
        description="The rep working the deal.",
        metadata=requires("users:read"),
    )
    pipeline: SalesPipelineType = table_field(
        Related(SalesPipeline, key="id", parent_key="pipeline_id"), metadata=requires(DEALS_READ)
    )
    quotes: list[Annotated[QuoteType, strawberry.lazy("crm_sales.quote_schema")]] = batch_field(
        deal_quotes, description="The deal's quotes, oldest first.", metadata=requires(QUOTES_READ)
    )
    stage_history: list[DealStageChangeType] = batch_field(
        stage_histories,
        description="Every stage the deal entered, oldest first: time in stage, cycle time.",
        metadata=requires(DEALS_READ),
    )
