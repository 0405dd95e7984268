"""The plugin's name and its settings, read by crm-graph from ``CRM_PLUGIN_LOYALTY_*``."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, PositiveInt, field_validator

NAME = "loyalty"
READ = "loyalty:read"
WRITE = "loyalty:write"
# Scheduled jobs: one award's expiry (one-shot), and the sweep that catches any award due.
EXPIRE_AWARD = "expire_award"
EXPIRY_SWEEP = "expire_points"


def _default_tiers() -> dict[str, int]:
    return {"bronze": 100, "silver": 500, "gold": 2000}


class LoyaltySettings(BaseModel):
    """``CRM_PLUGIN_LOYALTY_TIERS`` is a JSON object: tier name -> minimum points."""

    tiers: dict[str, PositiveInt] = Field(default_factory=_default_tiers)
    max_award: PositiveInt = Field(
        default=10_000, description="The most points one award may grant."
    )
    poll_interval: float = Field(
        default=0.5, gt=0, le=60, description="Seconds between subscription polls."
    )
    points_expire_after: timedelta | None = Field(
        default=None,
        gt=timedelta(0),
        description="Awarded points expire this long after the award (seconds or ISO 8601, "
        "P365D); unset: never.",
    )
    expiry_sweep: str | timedelta = Field(
        default="0 3 * * *",
        description="When the sweep expiring due points runs: a cron expression (UTC) or "
        "seconds between sweeps.",
    )

    @field_validator("points_expire_after", "expiry_sweep", mode="before")
    @classmethod
    def _seconds_are_an_interval(cls, value: object) -> object:
        """A number of seconds (as the environment gives it, a string) is an interval."""
        try:
            return timedelta(seconds=float(value))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return value  # an ISO 8601 duration, or a cron expression

    email_from: str | None = Field(
        default=None, description="Sender of tier-upgrade e-mails; none are sent when unset."
    )

    @field_validator("tiers")
    @classmethod
    def _distinct_thresholds(cls, tiers: dict[str, int]) -> dict[str, int]:
        if len(set(tiers.values())) != len(tiers):
            raise ValueError("two tiers share a minimum; each tier needs its own threshold")
        if any(not name.strip() for name in tiers):
            raise ValueError("tier names must not be blank")
        return tiers
