"""The plugin's GraphQL: fields on Customer, Product, Query and Mutation, and their types.

Every field reads stored scores, or (recommendations) computes them from the stored model. The
fields on Customer and Product are batch fields (the field contract): one function per field
scores all parents of a level from one read of each relation or, for recommendations, one
statement. The fields on Query are query fields, and the reports under ``analytics`` batch
fields of its one object, so the compiled read path serves the web app's dashboard. A field
whose model has never been trained, or could not be at the last run, is null with a
``NOT_TRAINED`` error that says why and how to train.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from crm_analytics import queries, store
from crm_analytics.definitions import SEGMENTS, reason, to_days
from crm_analytics.jobs import ABANDONED, Jobs, abandoned
from crm_analytics.lazy import models_module
from crm_analytics.relations import (
    MODEL,
    PRODUCT,
    SCORE,
    SEGMENT,
    SIMILAR,
)
from crm_analytics.settings import NAME, AnalyticsSettings
from crm_analytics.tables import (
    AnalyticsCustomerScore,
    AnalyticsJob,
    AnalyticsModel,
    AnalyticsSegment,
)
from crm_graph.plugin import (
    CustomerRow,
    MoneyType,
    ProductRow,
    ProductType,
    RequestContext,
    UserError,
    batch_field,
    id_arg,
    load_related,
    money,
    perform,
    query_error,
    query_field,
    requires,
    table_field,
    to_global_id,
    utcnow,
)

MAX_HORIZON_DAYS = 3650
MAX_BUCKETS = 50
MAX_RECOMMENDATIONS = 100
READ = requires("analytics:read")
TRAIN = requires("analytics:train")


def _currency(context: RequestContext) -> str:
    settings: AnalyticsSettings = context.app.plugin_settings(NAME)
    return settings.currency or context.app.settings.default_currency


def _money(context: RequestContext, amount: float, currency: str | None = None) -> MoneyType:
    return money(Decimal(str(round(float(amount), 4))), currency or _currency(context))


# The kinds of stored model the fields below read.
MODEL_KINDS = ("rfm", "clv", "churn", "segments", "recommendations", "reports")


async def _model(context: RequestContext, kind: str, field: str) -> AnalyticsModel:
    """The stored model of ``kind``, or a NOT_TRAINED error saying why there is none.

    Every kind is asked for at once: the request's loader keeps them, so the fields of one
    page share one statement however (and in whatever order) the read path calls them."""
    models = await load_related(context, MODEL, list(MODEL_KINDS))
    model = models[MODEL_KINDS.index(kind)]
    if model is None:
        raise query_error(
            "NOT_TRAINED",
            f"the {kind} model has not been trained yet: run the trainAnalyticsModels "
            "mutation or `crm-graph analytics train`",
            field,
        )
    if not model.trained:
        raise query_error(
            "NOT_TRAINED",
            f"the {kind} model could not be trained at the last run "
            f"(as of {model.as_of.date().isoformat()}): {model.metrics.get('error')}",
            field,
        )
    return model


def _bounded(value: float, low: float, high: float, argument: str) -> None:
    if not low <= value <= high:
        raise query_error("INVALID_VALUE", f"{argument} must be between {low} and {high}", argument)


@strawberry.enum(description="Churn risk band: LOW below 0.3, MEDIUM below 0.6, HIGH above.")
class ChurnBand(Enum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


@strawberry.enum(description="Length of the periods cohorts are grouped by.")
class CohortPeriod(Enum):
    WEEK = "WEEK"
    MONTH = "MONTH"
    QUARTER = "QUARTER"


@strawberry.enum(description="Where a training job is.")
class AnalyticsJobStatus(Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@strawberry.type(description="Recency, frequency and monetary value with quintile scores 1-5.")
class RfmScore:
    recency_days: int = strawberry.field(description="Days since the last order.")
    frequency: int = strawberry.field(description="Orders placed.")
    monetary: MoneyType = strawberry.field(description="Revenue from those orders.")
    r: int = strawberry.field(description="Recency score, 5 = most recent fifth.")
    f: int
    m: int
    segment: str = strawberry.field(description="Named RFM segment, e.g. Champions, At Risk.")


@strawberry.type(description="Customer lifetime value: predicted (BG/NBD + Gamma-Gamma) and past.")
class LifetimeValue:
    value: MoneyType = strawberry.field(
        description="Discounted margin expected within the horizon."
    )
    historical_value: MoneyType = strawberry.field(
        description="Past revenue x margin, discounted to the first purchase."
    )
    expected_purchases: float = strawberry.field(description="Purchases expected in the horizon.")
    expected_average_order_value: MoneyType
    probability_alive: float = strawberry.field(description="Probability the customer is active.")


@strawberry.type(description="A feature behind a churn score; impact > 0 raises the risk.")
class ChurnFactor:
    name: str
    impact: float = strawberry.field(
        description="Change in probability against a typical value of this feature."
    )


@strawberry.type(description="Probability of no order within the churn window.")
class ChurnRisk:
    probability: float
    band: ChurnBand
    factors: list[ChurnFactor]


@strawberry.type(description="A customer segment found by K-means on RFM and value.")
class CustomerSegment:
    id: strawberry.ID
    name: str
    description: str
    customers: int


@strawberry.type(description="A recommended product with its score and why.")
class Recommendation:
    product_id: strawberry.Private[int]
    score: float
    reason: str = strawberry.field(description='e.g. "bought with Espresso beans".')
    product: ProductType = table_field(PRODUCT)


@strawberry.type
class BgNbdParameters:
    r: float
    alpha: float
    a: float
    b: float


@strawberry.type
class GammaGammaParameters:
    p: float
    q: float
    gamma: float


@strawberry.type(description="The fitted predictive CLV models.")
class ClvModel:
    bgnbd: BgNbdParameters
    gamma_gamma: GammaGammaParameters
    time_unit_days: int
    as_of: datetime
    customers: int
    trained_at: datetime
    log_likelihood: float


@strawberry.type
class RfmSegmentSummary:
    segment: str
    customers: int
    revenue: MoneyType


@strawberry.type(description="Customers whose first order fell in one period, and who came back.")
class Cohort:
    cohort: date = strawberry.field(description="First day of the cohort's period.")
    customers: int
    retention: list[float] = strawberry.field(
        description="Share of the cohort ordering k periods later (k = 0, 1, ...)."
    )


@strawberry.type
class MonthlyRevenue:
    month: str = strawberry.field(description="YYYY-MM")
    revenue: MoneyType
    orders: int
    customers: int


@strawberry.type(description="How many scored customers are in one churn risk band.")
class ChurnBandSummary:
    band: ChurnBand
    customers: int


@strawberry.type(description="A customer segment and its centre: the medians of its members.")
class SegmentProfile:
    segment: CustomerSegment
    recency_days: float = strawberry.field(description="Days since the last order.")
    orders: float
    revenue: MoneyType
    predicted_value: MoneyType | None = strawberry.field(
        description="Predicted value next year; null when the CLV model was not trained."
    )


@strawberry.type(description="Customers whose predicted value falls in [lower, upper).")
class ClvBucket:
    lower: MoneyType
    upper: MoneyType | None = strawberry.field(description="Null for the open last bucket.")
    customers: int
    total: MoneyType


# The reports on ``analytics``: batch fields whose one parent is the namespace object the query
# field returns, so each report is computed once per request, and only when selected.


async def rfm_segment_totals(
    reports: list[AnalyticsReport], context: RequestContext
) -> list[list[RfmSegmentSummary]]:
    model = await _model(context, "rfm", "rfmSegments")
    async with context.app.read() as session:
        totals = await queries.segment_totals(session)
    currency = model.params.get("currency")
    summaries = [
        RfmSegmentSummary(
            segment=name,
            customers=totals.get(name, (0, 0.0))[0],
            revenue=_money(context, totals.get(name, (0, 0.0))[1], currency),
        )
        for name in SEGMENTS
    ]
    return [summaries] * len(reports)


async def churn_band_totals(
    reports: list[AnalyticsReport], context: RequestContext
) -> list[list[ChurnBandSummary]]:
    await _model(context, "churn", "churnBands")
    async with context.app.read() as session:
        counts = await queries.churn_band_counts(session)
    bands = [ChurnBandSummary(band=band, customers=counts.get(band.value, 0)) for band in ChurnBand]
    return [bands] * len(reports)


async def segment_profiles(
    reports: list[AnalyticsReport], context: RequestContext
) -> list[list[SegmentProfile]]:
    await _model(context, "segments", "segmentProfiles")
    async with context.app.read() as session:
        segments = await queries.segments(session)
    return [[_profile(context, segment) for segment in segments]] * len(reports)


async def cohort_retention(
    reports: list[AnalyticsReport],
    context: RequestContext,
    period: CohortPeriod = CohortPeriod.MONTH,
) -> list[list[Cohort]]:
    model = await _model(context, "reports", "cohortRetention")
    cohorts = [
        Cohort(
            cohort=date.fromisoformat(row["cohort"]),
            customers=row["customers"],
            retention=row["retention"],
        )
        for row in model.params["cohorts"][period.value]
    ]
    return [cohorts] * len(reports)


async def revenue_by_month(
    reports: list[AnalyticsReport], context: RequestContext
) -> list[list[MonthlyRevenue]]:
    model = await _model(context, "reports", "revenueByMonth")
    currency = model.params["currency"]
    months = [
        MonthlyRevenue(
            month=row["month"],
            revenue=_money(context, row["revenue"], currency),
            orders=row["orders"],
            customers=row["customers"],
        )
        for row in model.params["revenueByMonth"]
    ]
    return [months] * len(reports)


async def retention_rate(
    reports: list[AnalyticsReport],
    context: RequestContext,
    from_: Annotated[date, strawberry.argument(name="from")],
    to: date,
) -> list[float | None]:
    if to <= from_:
        raise query_error("INVALID_VALUE", "`to` must be after `from`", "to")
    start = datetime.combine(from_, time(), UTC)
    end = datetime.combine(to, time(), UTC)
    async with context.app.read() as session:
        base, kept = await queries.retention(session, start, end, _currency(context))
    return [round(kept / base, 4) if base else None] * len(reports)


async def repeat_purchase_rate(
    reports: list[AnalyticsReport], context: RequestContext
) -> list[float | None]:
    model = await _model(context, "reports", "repeatPurchaseRate")
    return [model.params["repeatPurchaseRate"]] * len(reports)


async def clv_distribution(
    reports: list[AnalyticsReport], context: RequestContext, buckets: int = 10
) -> list[list[ClvBucket]]:
    _bounded(buckets, 2, MAX_BUCKETS, "buckets")
    model = await _model(context, "clv", "clvDistribution")
    currency = model.params["currency"]
    top = max(float(model.metrics["valueP99"]), 1e-9)
    edges = [top * i / (buckets - 1) for i in range(buckets)]
    async with context.app.read() as session:
        histogram = await queries.value_histogram(session, edges)
    found = [
        ClvBucket(
            lower=_money(context, edges[i], currency),
            upper=_money(context, edges[i + 1], currency) if i + 1 < buckets else None,
            customers=customers,
            total=_money(context, total, currency),
        )
        for i, (customers, total) in enumerate(histogram)
    ]
    return [found] * len(reports)


@strawberry.type(description="Business-level analytics, shaped for charts.")
class AnalyticsReport:
    rfm_segments: list[RfmSegmentSummary] = batch_field(
        rfm_segment_totals,
        description="Customers and revenue per RFM segment (every segment listed).",
    )
    churn_bands: list[ChurnBandSummary] = batch_field(
        churn_band_totals,
        description="Scored customers per churn risk band (every band, LOW first).",
    )
    segment_profiles: list[SegmentProfile] = batch_field(
        segment_profiles,
        description="The customer segments (K-means) and their centres, largest first.",
    )
    cohort_retention: list[Cohort] = batch_field(
        cohort_retention,
        description="Retention curves of the most recent cohorts (at most 24).",
    )
    revenue_by_month: list[MonthlyRevenue] = batch_field(
        revenue_by_month,
        description="Revenue, orders and buying customers per calendar month.",
    )
    retention_rate: float | None = batch_field(
        retention_rate,
        description="Of the customers who ordered before `from`, the share who ordered again "
        "in [from, to). Computed from the orders now; null when nobody ordered before `from`.",
    )
    repeat_purchase_rate: float | None = batch_field(
        repeat_purchase_rate, description="Share of buying customers with more than one order."
    )
    clv_distribution: list[ClvBucket] = batch_field(
        clv_distribution,
        description="Histogram of predicted lifetime value: equal buckets up to the 99th "
        "percentile, the last one open-ended.",
    )


async def analytics_reports(context: RequestContext) -> AnalyticsReport:
    """The namespace object alone: each report is its own field's work."""
    return AnalyticsReport()


@strawberry.type(name="AnalyticsJob", description="A training run and how far it got.")
class AnalyticsJobType:
    @strawberry.field
    def id(self) -> strawberry.ID:
        return to_global_id("AnalyticsJob", self.id)  # type: ignore[arg-type]

    @strawberry.field(
        description="FAILED also when the process running the job stopped without finishing it."
    )
    def status(self) -> AnalyticsJobStatus:
        if abandoned(self):  # type: ignore[arg-type]
            return AnalyticsJobStatus.FAILED
        return AnalyticsJobStatus(self.status)  # type: ignore[attr-defined]

    progress: float = strawberry.field(description="From 0 to 1.")

    @strawberry.field
    def message(self) -> str:
        if abandoned(self):  # type: ignore[arg-type]
            return ABANDONED
        return self.message  # type: ignore[attr-defined]

    as_of: datetime
    time_unit_days: int
    created_at: datetime
    finished_at: datetime | None


async def _scores(
    context: RequestContext, customers: list[CustomerRow]
) -> list[AnalyticsCustomerScore | None]:
    return await load_related(context, SCORE, [customer.id for customer in customers])


async def rfm_scores(
    customers: list[CustomerRow], context: RequestContext
) -> list[RfmScore | None]:
    model = await _model(context, "rfm", "rfm")
    currency = model.params.get("currency")
    return [
        None
        if row is None
        else RfmScore(
            recency_days=int(row.recency_days),
            frequency=row.orders,
            monetary=_money(context, row.revenue, currency),
            r=row.r,
            f=row.f,
            m=row.m,
            segment=row.rfm_segment,
        )
        for row in await _scores(context, customers)
    ]


async def lifetime_values(
    customers: list[CustomerRow],
    context: RequestContext,
    horizon_days: int = 365,
    discount_rate: float | None = None,
) -> list[LifetimeValue | None]:
    _bounded(horizon_days, 1, MAX_HORIZON_DAYS, "horizonDays")
    if discount_rate is not None:
        _bounded(discount_rate, 0.0, 10.0, "discountRate")
    model = await _model(context, "clv", "lifetimeValue")
    rows = await _scores(context, customers)
    if all(row is None for row in rows):
        return [None] * len(rows)
    clv = await models_module("clv")
    params = model.params
    rate = params["discountRate"] if discount_rate is None else discount_rate
    currency = params["currency"]
    values: list[LifetimeValue | None] = []
    for row in rows:
        if row is None:
            values.append(None)
            continue
        value, purchases, historical = clv.customer_value(params, row, horizon_days, rate)
        values.append(
            LifetimeValue(
                value=_money(context, value, currency),
                historical_value=_money(context, historical, currency),
                expected_purchases=round(purchases, 6),
                expected_average_order_value=_money(context, row.expected_spend, currency),
                probability_alive=round(float(row.probability_alive), 6),
            )
        )
    return values


async def churn_risks(
    customers: list[CustomerRow], context: RequestContext
) -> list[ChurnRisk | None]:
    await _model(context, "churn", "churnRisk")
    return [
        None
        if row is None or row.churn_probability is None
        else ChurnRisk(
            probability=round(row.churn_probability, 6),
            band=ChurnBand(row.churn_band),
            factors=[ChurnFactor(name=n, impact=i) for n, i in row.churn_factors or []],
        )
        for row in await _scores(context, customers)
    ]


def _segment(segment: AnalyticsSegment) -> CustomerSegment:
    return CustomerSegment(
        id=to_global_id("CustomerSegment", segment.number),
        name=segment.name,
        description=segment.description,
        customers=segment.customers,
    )


def _profile(context: RequestContext, segment: AnalyticsSegment) -> SegmentProfile:
    centre = segment.centre
    predicted = centre.get("predicted_value")
    return SegmentProfile(
        segment=_segment(segment),
        recency_days=round(centre["recency_days"], 2),
        orders=round(centre["orders"], 2),
        revenue=_money(context, centre["revenue"]),
        predicted_value=None if predicted is None else _money(context, predicted),
    )


async def customer_segments(
    customers: list[CustomerRow], context: RequestContext
) -> list[CustomerSegment | None]:
    await _model(context, "segments", "segment")
    numbers = [None if row is None else row.segment for row in await _scores(context, customers)]
    found = await load_related(context, SEGMENT, numbers)
    return [None if segment is None else _segment(segment) for segment in found]


async def customer_recommendations(
    customers: list[CustomerRow], context: RequestContext, first: int = 10
) -> list[list[Recommendation] | None]:
    """Computed from the stored model for all customers of the page at once (one read of
    their purchases with the model's rows for them); a customer without purchases when the
    model was trained gets the popular products."""
    _bounded(first, 1, MAX_RECOMMENDATIONS, "first")
    model = await _model(context, "recommendations", "recommendations")
    params = model.params
    settings: AnalyticsSettings = context.app.plugin_settings(NAME)
    n = min(first, settings.recommendations)
    popular = [
        Recommendation(product_id=p, score=round(s, 6), reason=reason(None, None))
        for p, s in zip(params["popular"], params["popularScore"], strict=True)
    ][:n]
    async with context.app.read() as session:
        bought, pools = await queries.purchases_with_model(
            session, [c.id for c in customers], model.as_of, params["currency"]
        )
    recommend = await models_module("recommend")
    names = {row[1]: row[6] for row in bought}
    served = recommend.serve(
        [(*row[:2], to_days(row[2]), *row[3:]) for row in bought],
        pools,
        (params["popular"], params["popularScore"]),
        to_days(model.as_of),
        params["halfLifeDays"],
        n,
    )
    return [
        [
            Recommendation(
                product_id=r.product_id,
                score=round(r.score, 6),
                reason=reason(names.get(r.because), r.category),
            )
            for r in served[customer.id]
        ]
        if customer.id in served
        else popular
        for customer in customers
    ]


async def similar_products(
    products: list[ProductRow], context: RequestContext, first: int = 10
) -> list[list[Recommendation] | None]:
    _bounded(first, 1, MAX_RECOMMENDATIONS, "first")
    await _model(context, "recommendations", "similarProducts")
    found = await load_related(context, SIMILAR, [product.id for product in products])
    return [
        [
            Recommendation(product_id=r.similar_id, score=r.score, reason=r.reason)
            for r in rows[:first]
        ]
        for rows in found
    ]


@strawberry.type
class CustomerAnalytics:
    """Fields merged onto ``Customer`` (the parents are core Customer rows)."""

    rfm: RfmScore | None = batch_field(
        rfm_scores,
        metadata=READ,
        description="RFM scores; null for a customer without orders when trained.",
    )
    lifetime_value: LifetimeValue | None = batch_field(
        lifetime_values,
        metadata=READ,
        description="Predicted value over `horizonDays` (default 365) discounted at "
        "`discountRate` a year (default: the plugin setting), and historical value.",
    )
    churn_risk: ChurnRisk | None = batch_field(
        churn_risks, metadata=READ, description="Churn probability, band and the factors behind it."
    )
    segment: CustomerSegment | None = batch_field(
        customer_segments,
        metadata=READ,
        description="The customer's segment (K-means on RFM and value).",
    )
    recommendations: list[Recommendation] | None = batch_field(
        customer_recommendations,
        metadata=READ,
        description="Products to offer, best first; popular ones for customers without orders.",
    )


@strawberry.type
class ProductAnalytics:
    similar_products: list[Recommendation] | None = batch_field(
        similar_products,
        metadata=READ,
        description="Products bought by the same customers, most similar first.",
    )


async def fitted_clv_model(context: RequestContext) -> ClvModel:
    model = await _model(context, "clv", "clvModel")
    p, m = model.params, model.metrics
    return ClvModel(
        bgnbd=BgNbdParameters(**p["bgnbd"]),
        gamma_gamma=GammaGammaParameters(**p["gammaGamma"]),
        time_unit_days=p["timeUnitDays"],
        as_of=model.as_of,
        customers=m["customers"],
        trained_at=model.trained_at,
        log_likelihood=m["logLikelihood"],
    )


async def training_job(context: RequestContext, id: strawberry.ID) -> AnalyticsJobType | None:
    pk = id_arg(id, "AnalyticsJob")
    async with context.app.read() as session:
        return await session.get(AnalyticsJob, pk)  # type: ignore[return-value]


async def model_metrics(context: RequestContext, history: bool = False) -> JSON:
    async with context.app.read() as session:
        found = await queries.model_metrics(session)
        if history:
            found["versions"] = await store.versions(session)
        return found


@strawberry.type
class AnalyticsQuery:
    clv_model: ClvModel | None = query_field(
        fitted_clv_model, metadata=READ, description="The fitted BG/NBD and Gamma-Gamma parameters."
    )
    analytics: AnalyticsReport = query_field(
        analytics_reports, metadata=READ, description="Business-level analytics for charts."
    )

    analytics_job: AnalyticsJobType | None = query_field(
        training_job, metadata=READ, description="A training job by ID."
    )
    analytics_models: JSON = query_field(
        model_metrics,
        metadata=READ,
        description="Metrics of the served models (cross-validated AUC, the recommendation "
        "candidates' holdout figures, ...); with `history`, also `versions`: every training "
        "run, newest first, with its status (ACTIVE, RETIRED or REJECTED), data window, "
        "figures and timings.",
    )


@strawberry.input
class TrainAnalyticsModelsInput:
    as_of: datetime | None = strawberry.field(
        default=None, description="Ignore orders after this time (default: now)."
    )
    time_unit_days: int | None = strawberry.field(
        default=None, description="BG/NBD time unit (default: the plugin setting, 7)."
    )


@strawberry.type
class TrainAnalyticsModelsPayload:
    job: AnalyticsJobType | None
    errors: list[UserError]


def _input_errors(input: TrainAnalyticsModelsInput) -> list[UserError]:
    errors = []
    if input.as_of is not None and input.as_of.tzinfo is None:
        errors.append(
            UserError(
                code="INVALID_VALUE", message="asOf needs a time zone", field=["input", "asOf"]
            )
        )
    elif input.as_of is not None and input.as_of > utcnow():
        errors.append(
            UserError(
                code="INVALID_VALUE",
                message="asOf cannot be in the future",
                field=["input", "asOf"],
            )
        )
    if input.time_unit_days is not None and not 1 <= input.time_unit_days <= 365:
        errors.append(
            UserError(
                code="INVALID_VALUE",
                message="timeUnitDays must be between 1 and 365",
                field=["input", "timeUnitDays"],
            )
        )
    return errors


@strawberry.type
class AnalyticsMutations:
    @strawberry.mutation(
        metadata=TRAIN,
        description="Start training every analytics model in the background; poll analyticsJob.",
    )
    async def train_analytics_models(
        self, info: Info, input: TrainAnalyticsModelsInput | None = None
    ) -> TrainAnalyticsModelsPayload:
        input = input or TrainAnalyticsModelsInput()
        errors = _input_errors(input)
        jobs: Jobs = info.context.app.plugin_state[NAME]
        if not errors and jobs.running is not None:
            errors.append(
                UserError(
                    code="ALREADY_RUNNING",
                    message="a training job is already running: "
                    + to_global_id("AnalyticsJob", jobs.running),
                    field=["input"],
                )
            )
        if errors:
            return TrainAnalyticsModelsPayload(job=None, errors=errors)
        job, errors = await perform(
            info, lambda session: jobs.add(session, input.as_of or utcnow(), input.time_unit_days)
        )
        if job is not None:
            jobs.launch(job)
        return TrainAnalyticsModelsPayload(job=job, errors=errors)  # type: ignore[arg-type]
