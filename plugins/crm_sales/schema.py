"""The sales GraphQL of pipelines and deals: queries, mutations and the fields on Customer.

Resolvers parse input, call the rules in :mod:`crm_sales.deals` inside ``perform`` and return
views. Every read applies the caller's deal scope (:mod:`crm_sales.scopes`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from crm_graph.plugin import (
    Connection,
    CustomerRow,
    MoneyType,
    RequestContext,
    SortDirection,
    UserError,
    ValidationFailed,
    batch_field,
    id_arg,
    input_id,
    list_field,
    lookup_field,
    money,
    perform,
    query_error,
    query_field,
    requires,
    rows_field,
)
from crm_sales import deals as rules
from crm_sales import forecast as forecasting
from crm_sales import pipelines
from crm_sales.config import DEALS_MANAGE, DEALS_READ, DEALS_WRITE
from crm_sales.nodes import DEAL
from crm_sales.scopes import EVERYTHING, Sight, every_row, sight
from crm_sales.tables import SalesDeal, SalesPipeline
from crm_sales.views import (
    DealStatus,
    DealType,
    SalesPipelineType,
    StageKind,
)


def _sight(info: Info, permission: str) -> Sight:
    return sight(info.context.principal, permission)


def _actor(info: Info) -> str | None:
    return info.context.principal.user_id


# Fields on Customer -------------------------------------------------------------------------


async def customer_deals(
    customers: list[CustomerRow], context: RequestContext
) -> list[list[SalesDeal]]:
    """Each customer's deals the caller sees, newest first: one statement for all customers."""
    seen = sight(context.principal, DEALS_READ)
    async with context.app.read() as session:
        found = await rules.deals_of(session, [c.id for c in customers], seen)
    return [found[c.id] for c in customers]


async def open_deal_values(
    customers: list[CustomerRow], context: RequestContext
) -> list[list[MoneyType]]:
    """Each customer's open deal value, one amount per currency (never converted)."""
    seen = sight(context.principal, DEALS_READ)
    async with context.app.read() as session:
        found = await rules.open_values(session, [c.id for c in customers], seen)
    return [[money(total, currency) for currency, total in found[c.id]] for c in customers]


@strawberry.type
class CustomerSales:
    deals: list[DealType] = batch_field(
        customer_deals,
        description="The customer's deals within your scope, newest first.",
        metadata=requires(DEALS_READ),
    )
    open_deal_value: list[MoneyType] = batch_field(
        open_deal_values,
        description="The amounts of the customer's open deals, summed per currency.",
        metadata=requires(DEALS_READ),
    )


# Queries ------------------------------------------------------------------------------------


@strawberry.enum(name="DealSortField")
class DealSortField(Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    EXPECTED_CLOSE_DATE = "expected_close_date"
    AMOUNT = "amount"
    NAME = "name"


@strawberry.input(name="DealOrderBy")
class DealOrderBy:
    field: DealSortField = DealSortField.CREATED_AT
    direction: SortDirection = SortDirection.DESC


@strawberry.input(name="DealFilter")
class DealFilter:
    pipeline_id: strawberry.ID | None = None
    stage_ids: list[strawberry.ID] | None = None
    owner_ids: list[str] | None = strawberry.field(
        default=None, description="User ids; deals without an owner never match."
    )
    customer_id: strawberry.ID | None = None
    company_id: strawberry.ID | None = strawberry.field(
        default=None, description="Deals of the company's contacts."
    )
    statuses: list[DealStatus] | None = None
    close_after: date | None = strawberry.field(
        default=None, description="Expected close on or after this date."
    )
    close_before: date | None = strawberry.field(
        default=None, description="Expected close on or before this date."
    )
    search: str | None = strawberry.field(default=None, description="Part of the deal's name.")


def deal_statement(_principal: Any, filter: DealFilter | None) -> Any:
    """The deals a filter selects (the list adds the caller's scope)."""
    f = filter or DealFilter()
    if f.search and len(f.search) > 200:
        raise query_error("INVALID_ARGUMENT", "at most 200 characters", "filter.search")
    return rules.deal_select(
        EVERYTHING,
        pipeline_id=_arg(f.pipeline_id, "SalesPipeline", "filter.pipelineId"),
        stage_ids=None
        if f.stage_ids is None
        else [id_arg(s, "SalesStage", "filter.stageIds") for s in f.stage_ids],
        owner_ids=f.owner_ids,
        customer_id=_arg(f.customer_id, "Customer", "filter.customerId"),
        company_id=_arg(f.company_id, "Company", "filter.companyId"),
        statuses=None if f.statuses is None else [s.value for s in f.statuses],
        close_after=f.close_after,
        close_before=f.close_before,
        search=f.search,
    )


def _arg(value: strawberry.ID | None, type_name: str, argument: str) -> int | None:
    return None if value is None else id_arg(value, type_name, argument)


@strawberry.type
class DealQueries:
    sales_pipelines: list[SalesPipelineType] = rows_field(
        SalesPipeline,
        every_row(SalesPipeline),
        ("position",),
        permission=DEALS_READ,
        description="Every pipeline with its stages, in order.",
    )
    deal: DealType | None = lookup_field(DEAL, description="One deal, if it is within your scope.")
    deals: Connection[DealType] = list_field(
        SalesDeal,
        deal_statement,
        DealFilter,
        DealOrderBy,
        permission=DEALS_READ,
        owner="owner_id",
        description="Deals within your scope, filtered and sorted, a page at a time.",
    )


# The forecast -------------------------------------------------------------------------------


@strawberry.enum(name="ForecastPeriod")
class ForecastPeriodKind(Enum):
    MONTH = "month"
    QUARTER = "quarter"


@strawberry.type(name="SalesForecastPeriod")
class ForecastPeriodType:
    start: date
    end: date = strawberry.field(description="The period's last day.")
    weighted: list[MoneyType] = strawberry.field(
        description="Open deals closing in the period: amount x stage probability, per currency."
    )
    pipeline: list[MoneyType] = strawberry.field(description="The same deals, unweighted.")
    committed: list[MoneyType] = strawberry.field(description="Deals won in the period.")
    open_deals: int
    won_deals: int


@strawberry.type(name="SalesFigures")
class FiguresType:
    weighted: list[MoneyType] = strawberry.field(description="Of open deals closing in range.")
    committed: list[MoneyType] = strawberry.field(description="Of deals won in range.")
    undated_weighted: list[MoneyType] = strawberry.field(
        description="Open deals without an expected close date (in no period)."
    )
    undated_deals: int
    won_deals: int = strawberry.field(description="Won in range.")
    lost_deals: int = strawberry.field(description="Lost in range.")
    win_rate: float | None = strawberry.field(
        description="Won / (won + lost) in range; null when none closed."
    )
    average_deal_size: list[MoneyType] = strawberry.field(description="Mean won amount.")
    median_cycle_days: float | None = strawberry.field(
        description="Days from creation to win, the median of the deals won in range."
    )


@strawberry.type(name="SalesOwnerFigures")
class OwnerFiguresType:
    owner_id: str | None
    figures: FiguresType


@strawberry.type(name="SalesForecast")
class ForecastType:
    periods: list[ForecastPeriodType]
    total: FiguresType
    owners: list[OwnerFiguresType] = strawberry.field(description="Per owner, by owner id.")


def _monies(amounts: dict[str, Decimal]) -> list[MoneyType]:
    return [money(amount, currency) for currency, amount in sorted(amounts.items())]


def _figures(f: forecasting.Figures) -> FiguresType:
    return FiguresType(
        weighted=_monies(f.weighted),
        committed=_monies(f.committed),
        undated_weighted=_monies(f.undated_weighted),
        undated_deals=f.undated_deals,
        won_deals=f.won,
        lost_deals=f.lost,
        win_rate=None if f.win_rate is None else round(f.win_rate, 4),
        average_deal_size=_monies(f.average_deal_size),
        median_cycle_days=None if f.median_cycle_days is None else round(f.median_cycle_days, 2),
    )


async def forecast_for(
    context: RequestContext,
    period: ForecastPeriodKind,
    from_: Annotated[date, strawberry.argument(name="from")],
    to: date,
    owner: str | None = None,
    pipeline: strawberry.ID | None = None,
) -> ForecastType:
    """The forecast of the deals the caller sees, computed once per request."""
    if to < from_:
        raise query_error("INVALID_ARGUMENT", "to is before from", "to")
    if (to - from_).days > 366 * 10:
        raise query_error("INVALID_ARGUMENT", "at most ten years", "to")
    pipeline_id = None if pipeline is None else id_arg(pipeline, "SalesPipeline", "pipeline")
    async with context.app.read() as session:
        found = await forecasting.forecast(
            session,
            sight(context.principal, DEALS_READ),
            from_,
            to,
            period.value,
            owner,
            pipeline_id,
        )
    return ForecastType(
        periods=[
            ForecastPeriodType(
                start=p.start,
                end=p.end,
                weighted=_monies(p.weighted),
                pipeline=_monies(p.pipeline),
                committed=_monies(p.committed),
                open_deals=p.open_deals,
                won_deals=p.won_deals,
            )
            for p in found.periods
        ],
        total=_figures(found.overall),
        owners=[
            OwnerFiguresType(owner_id=who, figures=_figures(f))
            for who, f in sorted(found.owners.items(), key=lambda item: item[0] or "")
        ],
    )


@strawberry.type
class ForecastQueries:
    sales_forecast: ForecastType = query_field(
        forecast_for,
        description="Weighted pipeline by period of expected close, committed (won) amounts, "
        "win rate, average deal size and median cycle time, overall and per owner, per currency.",
        metadata=requires(DEALS_READ),
    )


# Mutations ----------------------------------------------------------------------------------


@strawberry.input(name="SalesStageInput")
class SalesStageInput:
    name: str
    kind: StageKind = StageKind.OPEN
    probability: int | None = strawberry.field(
        default=None, description="Percent; required for open stages (won: 100, lost: 0)."
    )


@strawberry.input
class CreateSalesPipelineInput:
    name: str
    stages: list[SalesStageInput]


@strawberry.type
class CreateSalesPipelinePayload:
    pipeline: SalesPipelineType | None
    errors: list[UserError]


@strawberry.input(name="SalesStageEditInput")
class SalesStageEditInput(SalesStageInput):
    id: strawberry.ID | None = strawberry.field(
        default=None, description="A stage of the pipeline; left out: a new stage."
    )


@strawberry.input
class UpdateSalesPipelineInput:
    id: strawberry.ID
    expected_version: int | None = strawberry.field(
        default=None, description="The version you saw; a newer one is a CONFLICT."
    )
    name: str | None = None
    stages: list[SalesStageEditInput] | None = strawberry.field(
        default=None,
        description="The stages as they should be, in order: an existing stage by its id "
        "(renamed, moved, its probability or kind changed), a new one without; a stage left "
        "out is removed. A stage holding deals is neither removed nor changes kind "
        "(STAGE_HAS_DEALS names the deals: move them first).",
    )


async def _pipeline_payload(
    info: Info, result: SalesPipeline | None, errors: list[UserError]
) -> CreateSalesPipelinePayload:
    """The pipeline as committed (its stages are read by the field)."""
    if result is None:
        return CreateSalesPipelinePayload(pipeline=None, errors=errors)
    async with info.context.app.read() as session:
        fresh = await session.get(SalesPipeline, result.id)
    return CreateSalesPipelinePayload(pipeline=fresh, errors=[])  # type: ignore[arg-type]


def _stage_ids(stages: list[SalesStageEditInput]) -> list[int | None]:
    """The stages' ids, every malformed one reported with its path."""
    out: list[int | None] = []
    problems: list[UserError] = []
    for index, stage in enumerate(stages):
        try:
            out.append(_optional(stage.id, "SalesStage", "input", "stages", str(index), "id"))
        except ValidationFailed as exc:
            problems.extend(exc.errors)
            out.append(None)
    if problems:
        raise ValidationFailed(problems)
    return out


@strawberry.input
class CreateDealInput:
    name: str
    customer_id: strawberry.ID
    amount: Decimal
    currency: str | None = strawberry.field(
        default=None, description="ISO 4217; the server's default currency when left out."
    )
    pipeline_id: strawberry.ID | None = strawberry.field(
        default=None, description="The first pipeline when neither it nor a stage is given."
    )
    stage_id: strawberry.ID | None = strawberry.field(
        default=None, description="The pipeline's first open stage when left out."
    )
    expected_close_date: date | None = None
    owner_id: str | None = strawberry.field(default=None, description="You, when left out.")
    lost_reason: str | None = None


@strawberry.input
class UpdateDealInput:
    id: strawberry.ID
    expected_version: int | None = None
    name: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    expected_close_date: date | None = None
    owner_id: str | None = None


@strawberry.input
class MoveDealInput:
    id: strawberry.ID
    stage_id: strawberry.ID
    expected_version: int | None = strawberry.field(
        default=None, description="The version you saw; a newer one is a CONFLICT."
    )
    lost_reason: str | None = strawberry.field(
        default=None, description="Required when the stage is a lost one."
    )


@strawberry.type
class DealPayload:
    deal: DealType | None
    errors: list[UserError]


async def _deal_payload(
    info: Info, result: SalesDeal | None, errors: list[UserError]
) -> DealPayload:
    if result is None:
        return DealPayload(deal=None, errors=errors)
    async with info.context.app.read() as session:
        fresh = await session.get(SalesDeal, result.id)
    return DealPayload(deal=fresh, errors=[])  # type: ignore[arg-type]


def _optional(value: strawberry.ID | None, type_name: str, *path: str) -> int | None:
    return None if value is None else input_id(value, type_name, *path)


@strawberry.type
class DealMutations:
    @strawberry.mutation(
        description="A pipeline with its stages in order (at least one open, one won, one lost).",
        metadata=requires(DEALS_MANAGE),
    )
    async def create_sales_pipeline(
        self, info: Info, input: CreateSalesPipelineInput
    ) -> CreateSalesPipelinePayload:
        stages = [pipelines.NewStage(s.name, s.kind.value, s.probability) for s in input.stages]

        async def work(session):
            return await pipelines.create_pipeline(session, input.name, stages)

        return await _pipeline_payload(info, *await perform(info, work))

    @strawberry.mutation(
        description="Rename a pipeline; add, remove, rename and reorder its stages, change "
        "their win probabilities and kinds.",
        metadata=requires(DEALS_MANAGE),
    )
    async def update_sales_pipeline(
        self, info: Info, input: UpdateSalesPipelineInput
    ) -> CreateSalesPipelinePayload:
        async def work(session):
            pk = input_id(input.id, "SalesPipeline", "input", "id")
            stages = None
            if input.stages is not None:
                ids = _stage_ids(input.stages)
                stages = [
                    pipelines.NewStage(s.name, s.kind.value, s.probability, stage_id)
                    for s, stage_id in zip(input.stages, ids, strict=True)
                ]
            return await pipelines.update_pipeline(
                session, pk, input.name, stages, input.expected_version
            )

        return await _pipeline_payload(info, *await perform(info, work))

    @strawberry.mutation(
        description="A deal with a customer; emits deal.created.", metadata=requires(DEALS_WRITE)
    )
    async def create_deal(self, info: Info, input: CreateDealInput) -> DealPayload:
        seen, actor = _sight(info, DEALS_WRITE), _actor(info)
        currency = input.currency or info.context.app.settings.default_currency

        async def work(session):
            new = rules.NewDeal(
                name=input.name,
                customer_id=input_id(input.customer_id, "Customer", "input", "customerId"),
                amount=input.amount,
                currency=currency,
                pipeline_id=_optional(input.pipeline_id, "SalesPipeline", "input", "pipelineId"),
                stage_id=_optional(input.stage_id, "SalesStage", "input", "stageId"),
                expected_close_date=input.expected_close_date,
                owner_id=input.owner_id,
                lost_reason=input.lost_reason,
            )
            return await rules.create_deal(session, new, seen, actor)

        return await _deal_payload(info, *await perform(info, work))

    @strawberry.mutation(
        description="Change a deal's name, amount, close date or owner; emits deal.updated.",
        metadata=requires(DEALS_WRITE),
    )
    async def update_deal(self, info: Info, input: UpdateDealInput) -> DealPayload:
        seen = _sight(info, DEALS_WRITE)
        changes = rules.DealChanges(
            name=input.name,
            amount=input.amount,
            currency=input.currency,
            expected_close_date=input.expected_close_date,
            owner_id=input.owner_id,
        )

        async def work(session):
            pk = input_id(input.id, "Deal", "input", "id")
            return await rules.update_deal(session, pk, changes, seen, input.expected_version)

        return await _deal_payload(info, *await perform(info, work))

    @strawberry.mutation(
        description="Move a deal to a stage (kept in its stageHistory); emits deal.stage_changed, "
        "and deal.won or deal.lost when it closes.",
        metadata=requires(DEALS_WRITE),
    )
    async def move_deal(self, info: Info, input: MoveDealInput) -> DealPayload:
        seen, actor = _sight(info, DEALS_WRITE), _actor(info)

        async def work(session):
            pk = input_id(input.id, "Deal", "input", "id")
            stage = input_id(input.stage_id, "SalesStage", "input", "stageId")
            return await rules.move_deal(
                session, pk, stage, seen, actor, input.expected_version, input.lost_reason
            )

        return await _deal_payload(info, *await perform(info, work))


__all__ = ["CustomerSales", "DealMutations", "DealQueries", "ForecastQueries"]
