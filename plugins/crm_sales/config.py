"""The sales plugin's name, permissions and settings (``CRM_PLUGIN_SALES_*``)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, field_validator

NAME = "sales"

DEALS_READ = "deals:read"
DEALS_WRITE = "deals:write"
DEALS_MANAGE = "deals:manage"
LEADS_READ = "leads:read"
LEADS_WRITE = "leads:write"
LEADS_MANAGE = "leads:manage"
QUOTES_READ = "quotes:read"
QUOTES_WRITE = "quotes:write"
TASKS_READ = "tasks:read"
TASKS_WRITE = "tasks:write"
# Scheduled jobs.
TASKS_DUE = "tasks_due"
QUOTES_EXPIRE = "quotes_expire"
TRAIN_SCORING = "train_scoring"


class SalesSettings(BaseModel):
    """The sales plugin's settings; none is needed to start."""

    form_max_per_minute: int = Field(
        default=30, gt=0, description="Leads one web-to-lead form takes per minute at most."
    )
    scoring_min_outcomes: int = Field(
        default=30,
        ge=4,
        description="Converted plus disqualified leads needed before lead scores are learned "
        "(below: the rule-based score).",
    )
    scoring_schedule: str = Field(
        default="0 4 * * *", description="When the lead scoring model is retrained (cron, UTC)."
    )
    tasks_due_every: timedelta = Field(
        default=timedelta(minutes=1),
        gt=timedelta(0),
        description="How often the job emitting task.due looks for tasks come due (seconds).",
    )

    @field_validator("tasks_due_every", mode="before")
    @classmethod
    def _seconds_are_an_interval(cls, value: object) -> object:
        """A number of seconds (as the environment gives it, a string) is an interval."""
        try:
            return timedelta(seconds=float(value))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return value  # an ISO 8601 duration
