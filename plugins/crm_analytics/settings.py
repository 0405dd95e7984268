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
    seed: int = Field(0, description="Random seed of the models (results are repeatable).")
