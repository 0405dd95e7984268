"""The plugin's tables (prefix ``analytics_``): jobs, fitted models and stored scores.

Scores are written in batch by training and only read by the API, so reading a customer's
churn risk or lifetime value is a lookup, never a model run. Training replaces every score
table in one transaction: readers see the previous models or the new ones, never a mix.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, LargeBinary

from crm_graph.plugin import Field, JsonColumn, SQLModel, UTCDateTimeColumn, utcnow


class AnalyticsJob(SQLModel, table=True):
    """One training run, started from the API or the command line."""

    __tablename__ = "analytics_job"

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default="QUEUED", max_length=16)
    progress: float = 0.0
    message: str = Field(default="", max_length=2000)
    as_of: datetime = Field(sa_type=UTCDateTimeColumn)
    time_unit_days: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)


class AnalyticsModelVersion(SQLModel, table=True):
    """One training run's outcome: ``ACTIVE`` (its scores are served), ``RETIRED`` (served
    before the active one) or ``REJECTED`` (kept for the record, never served: its figures fell
    more than the margin below those of the version active then, ``reason`` says which)."""

    __tablename__ = "analytics_model_version"

    id: int | None = Field(default=None, primary_key=True)
    job_id: int | None = Field(default=None, foreign_key="analytics_job.id")
    status: str = Field(max_length=16)
    trigger: str = Field(max_length=16)  # manual, schedule, orders
    as_of: datetime = Field(sa_type=UTCDateTimeColumn)  # end of the data window
    data_from: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)  # first order
    orders: int
    customers: int
    metrics: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JsonColumn, nullable=False)
    )  # per model kind, as analyticsModels shows them
    timings: dict[str, float] = Field(
        default_factory=dict, sa_column=Column(JsonColumn, nullable=False)
    )  # seconds per stage
    reason: str = Field(default="", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


class AnalyticsModel(SQLModel, table=True):
    """A fitted model (``kind``: rfm, clv, churn, segments, recommendations, reports).

    ``params`` holds what reading needs (e.g. BG/NBD parameters); ``metrics`` how good it is,
    or why it could not be trained (``metrics["error"]``, with ``trained`` false).
    """

    __tablename__ = "analytics_model"

    kind: str = Field(primary_key=True, max_length=32)
    trained: bool
    as_of: datetime = Field(sa_type=UTCDateTimeColumn)
    trained_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    params: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JsonColumn, nullable=False)
    )
    metrics: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JsonColumn, nullable=False)
    )


class AnalyticsCustomerScore(SQLModel, table=True):
    """Everything scored for one customer with at least one order at training time."""

    __tablename__ = "analytics_customer_score"

    customer_id: int = Field(foreign_key="customer.id", primary_key=True)
    recency_days: float
    orders: int
    revenue: float
    r: int
    f: int
    m: int
    rfm_segment: str = Field(max_length=32, index=True)
    frequency: float  # BG/NBD x: repeat purchase days
    recency: float  # t_x in time units
    age: float  # T in time units
    repeat_mean: float  # mean value of the repeat purchase days
    revenue_periods: list[list[float]] = Field(
        default_factory=list, sa_column=Column(JsonColumn, nullable=False)
    )  # [[time units since the first purchase, revenue], ...] for historical value
    expected_purchases: float | None = None  # within the default horizon
    probability_alive: float | None = None
    expected_spend: float | None = None
    predicted_value: float | None = None  # default horizon, discount rate and margin
    churn_probability: float | None = None
    churn_band: str | None = Field(default=None, max_length=8)
    churn_factors: list[list[Any]] | None = Field(default=None, sa_column=Column(JsonColumn))
    segment: int | None = None


class AnalyticsSegment(SQLModel, table=True):
    __tablename__ = "analytics_segment"

    number: int = Field(primary_key=True)
    name: str = Field(max_length=64)
    description: str = Field(max_length=1000)
    customers: int
    centre: dict[str, float] = Field(
        default_factory=dict, sa_column=Column(JsonColumn, nullable=False)
    )


class AnalyticsItemWeights(SQLModel, table=True):
    """One row of the served recommendation model's item x item weights: what buying
    ``product_id`` adds to the score of each of its neighbours. Recommendations are computed
    from these when read (``recommend.serve``), not stored per customer."""

    __tablename__ = "analytics_item_weights"

    product_id: int = Field(foreign_key="product.id", primary_key=True)
    neighbours: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # int64 ids
    weights: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # float64, same order


class AnalyticsPopularInCategory(SQLModel, table=True):
    """The most bought products of a category, most bought first: what fills up the
    recommendations of a customer who buys in it and has too few from the model."""

    __tablename__ = "analytics_popular_in_category"

    category: str = Field(primary_key=True, max_length=120)
    products: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # int64 ids
    shares: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # float64 buyer shares


class AnalyticsSimilarProduct(SQLModel, table=True):
    """A product similar to another (bought by the same customers), best first."""

    __tablename__ = "analytics_similar_product"

    product_id: int = Field(foreign_key="product.id", primary_key=True)
    rank: int = Field(primary_key=True)
    similar_id: int = Field(foreign_key="product.id")
    score: float
    reason: str = Field(max_length=400)


SCORE_TABLES = [
    AnalyticsCustomerScore,
    AnalyticsSegment,
    AnalyticsItemWeights,
    AnalyticsPopularInCategory,
    AnalyticsSimilarProduct,
]
TABLES = [AnalyticsJob, AnalyticsModelVersion, AnalyticsModel, *SCORE_TABLES]
