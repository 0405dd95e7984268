"""The plugin's name, permissions and settings, read by crm-graph from ``CRM_PLUGIN_SERVICE_*``."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field, field_validator

NAME = "service"
TICKETS_READ = "tickets:read"
TICKETS_WRITE = "tickets:write"
TICKETS_ADMIN = "tickets:admin"
SURVEYS_READ = "surveys:read"
SURVEYS_SEND = "surveys:send"
# The periodic job that emits SLA warnings and breaches.
SLA_CHECK = "sla_check"


class ServiceSettings(BaseModel):
    """SLA warnings and checks, survey links, the sender of survey e-mails and the inbound
    e-mail listener."""

    sla_warning_lead: timedelta = Field(
        default=timedelta(hours=1),
        ge=timedelta(0),
        description="ticket.sla_warning is emitted this long (wall-clock) before a target is "
        "due (seconds or ISO 8601, PT30M).",
    )
    sla_check_every: timedelta = Field(
        default=timedelta(minutes=1),
        gt=timedelta(0),
        description="How often the scheduler looks for SLA targets due or breached (seconds).",
    )

    survey_valid_for: timedelta = Field(
        default=timedelta(days=14),
        gt=timedelta(0),
        description="How long a survey link can be answered (seconds or ISO 8601, P14D).",
    )
    survey_url: str = Field(
        default="/p/service/surveys/{token}",
        description="The survey link sent to customers; {token} is replaced by the token.",
    )
    email_from: str | None = Field(
        default=None,
        description="Sender of survey e-mails; none are sent while unset (the link is still in "
        "the API and the ticket.resolved event).",
    )

    inbound_smtp: str | None = Field(
        default=None,
        pattern=r"^\[?[^\s\]]*\]?:\d{1,5}$",
        description="host:port the inbound e-mail listener of crm-graph serve takes mail on "
        "(e.g. 127.0.0.1:2525, behind your mail server); off while unset.",
    )
    inbound_max_bytes: int = Field(
        default=10_000_000,
        gt=0,
        description="The largest e-mail the inbound listener takes (SMTP SIZE); bigger ones "
        "are refused with 552 before they are read whole.",
    )

    @field_validator("sla_warning_lead", "sla_check_every", "survey_valid_for", mode="before")
    @classmethod
    def _seconds_are_an_interval(cls, value: object) -> object:
        """A number of seconds (as the environment gives it, a string) is an interval."""
        try:
            return timedelta(seconds=float(value))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return value  # an ISO 8601 duration
