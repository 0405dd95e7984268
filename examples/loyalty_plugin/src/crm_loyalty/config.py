"""The plugin's name and its settings, read by crm-graph from ``CRM_PLUGIN_LOYALTY_*``."""

from __future__ import annotations

from pydantic import BaseModel, Field, PositiveInt, field_validator

NAME = "loyalty"
READ = "loyalty:read"
WRITE = "loyalty:write"


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

    @field_validator("tiers")
    @classmethod
    def _distinct_thresholds(cls, tiers: dict[str, int]) -> dict[str, int]:
        if len(set(tiers.values())) != len(tiers):
            raise ValueError("two tiers share a minimum; each tier needs its own threshold")
        if any(not name.strip() for name in tiers):
            raise ValueError("tier names must not be blank")
        return tiers
