"""The plugin's name, permissions and settings (``CRM_PLUGIN_MARKETING_*``)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, PositiveFloat, field_validator

NAME = "marketing"

SEGMENTS_READ = "segments:read"
SEGMENTS_WRITE = "segments:write"
CAMPAIGNS_READ = "campaigns:read"
CAMPAIGNS_WRITE = "campaigns:write"
CAMPAIGNS_SEND = "campaigns:send"
AUTOMATIONS_READ = "automations:read"
AUTOMATIONS_WRITE = "automations:write"

PERMISSIONS = {
    SEGMENTS_READ: "See audience segments and static lists, their size and a preview.",
    SEGMENTS_WRITE: "Create and change audience segments and static lists.",
    CAMPAIGNS_READ: "See e-mail campaigns, their send log and statistics.",
    CAMPAIGNS_WRITE: "Create and change e-mail campaigns and their templates.",
    CAMPAIGNS_SEND: "Send or schedule a campaign to its segment.",
    AUTOMATIONS_READ: "See marketing automations and their runs.",
    AUTOMATIONS_WRITE: "Create, change, pause and resume marketing automations.",
}

# Scheduled jobs.
REFRESH_SEGMENTS = "refresh_segments"
SEND_CAMPAIGN = "send_campaign"
FOLLOW_SENDS = "follow_sends"
RUN_AUTOMATION = "run_automation"


class MarketingSettings(BaseModel):
    """Read from ``CRM_PLUGIN_MARKETING_*``."""

    public_url: str = Field(
        default="http://localhost:8000",
        description="The server's address as recipients reach it: unsubscribe, tracking and "
        "confirmation links in e-mails start with it.",
    )
    segment_refresh: str | timedelta = Field(
        default=timedelta(minutes=15),
        description="When every dynamic segment's membership is recomputed: seconds between "
        "runs or a cron expression (UTC). Events refresh the customers they touch at once.",
    )
    send_rate: PositiveFloat = Field(
        default=10.0, description="Default throttle of a campaign: messages per second."
    )
    attribution_days: int = Field(
        default=7,
        gt=0,
        le=365,
        description="An order placed this many days after a customer's last campaign touch "
        "(a click or, failing that, an open) is attributed to that campaign.",
    )
    follow_seconds: PositiveFloat = Field(
        default=10.0,
        description="Seconds between looks at the outbound queue, bringing each recipient's "
        "send-log status up to their message's (and emitting email.delivered).",
    )
    double_opt_in: bool = Field(
        default=False,
        description="Only consents confirmed through the double opt-in link count for e-mail.",
    )
    link_days: int = Field(
        default=365, gt=0, description="How long unsubscribe and tracking links stay valid."
    )

    @field_validator("segment_refresh", mode="before")
    @classmethod
    def _seconds_are_an_interval(cls, value: object) -> object:
        try:
            return timedelta(seconds=float(value))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return value  # a cron expression
