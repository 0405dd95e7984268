"""The plugin's settings, read from ``CRM_PLUGIN_ANALYTICS_*`` environment variables."""

from __future__ import annotations

from pydantic import BaseModel, Field

NAME = "analytics"


class AnalyticsSettings(BaseModel):
    time_unit_days: int = Field(7, ge=1, le=365, description="BG/NBD time unit in days.")
    discount_rate: float = Field(0.10, ge=0, le=10, description="Annual rate for CLV.")
    margin: float = Field(1.0, gt=0, le=1, description="Share of revenue that is profit.")
    horizon_days: int = Field(365, ge=1, le=3650, description="Default CLV horizon.")
    churn_window_days: int = Field(90, ge=7, le=730, description="No order within = churned.")
    currency: str | None = Field(
        None, min_length=3, max_length=3, description="Currency analysed (default: core's)."
    )
    recommendations: int = Field(20, ge=1, le=100, description="Stored per customer.")
    neighbours: int = Field(20, ge=1, le=200, description="Similar items kept per item.")
    recommender: str = Field(
        "auto",
        pattern="^(auto|cosine|knn|ease|rp3beta)$",
        description="Recommendation model: auto (chosen by the holdout) or one by name.",
    )
    holdout_fraction: float = Field(
        0.2,
        gt=0,
        lt=0.5,
        description="Share held out to choose the model (of each customer's products, or of "
        "the lines for the time split).",
    )
    holdout_split: str = Field(
        "random",
        pattern="^(random|customer|time)$",
        description="random: a random share of each customer's products held out; customer: "
        "each customer's latest products; time: one cut in time.",
    )
    holdout_folds: int = Field(
        2, ge=1, le=10, description="Random holdouts drawn (split random), figures pooled."
    )
    half_life_days: float | None = Field(
        180.0, gt=0, description="Time decay tried on the holdout (none: never decay)."
    )
    reject_margin: float = Field(
        0.1,
        ge=-1,
        le=1,
        description="A run whose holdout figures fall more than this share below the active "
        "version's is kept but not activated (negative: it must beat them by that share).",
    )
    schedule: str | None = Field(
        None, description="Cron expression (UTC) of periodic training, e.g. '0 2 * * *'."
    )
    retrain_after_orders: int | None = Field(
        None, ge=1, description="Train again once this many orders came in since the last run."
    )
    seed: int = Field(0, description="Random seed of the models (results are repeatable).")
