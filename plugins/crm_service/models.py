"""The plugin's tables: prefixed ``service_``, pointing at core customers, users, teams and
interactions, never altering them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Text, UniqueConstraint

from crm_graph.plugin import Field, JsonColumn, SQLModel, UTCDateTimeColumn, utcnow

PII = {"info": {"pii": True}}


class Ticket(SQLModel, table=True):
    """A customer's request for help, moving through the status machine of
    :mod:`crm_service.lifecycle`. ``priority`` is 1 (LOW) to 4 (URGENT), so it sorts."""

    __tablename__ = "service_ticket"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    subject: str = Field(max_length=200, sa_column_kwargs=PII)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, info={"pii": True}))
    channel: str = Field(max_length=16)
    priority: int = Field(default=2)
    status: str = Field(default="NEW", max_length=16, index=True)
    assignee_id: str | None = Field(
        default=None, max_length=200, foreign_key="auth_user.user_id", index=True
    )
    team_id: int | None = Field(default=None, foreign_key="auth_team.id", index=True)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JsonColumn, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    first_response_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn)
    version: int = Field(default=1)
    # The SLA policy measuring it, and what :mod:`crm_service.sla` last worked out: the
    # earliest deadline of a target still running (null when none runs: met, paused, none),
    # and whether a target was breached (kept for the tickets filter and the scheduler).
    sla_policy_id: int | None = Field(default=None, foreign_key="service_sla_policy.id")
    sla_due_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn, index=True)
    sla_breached: bool = Field(default=False)


class TicketStatusChange(SQLModel, table=True):
    """One step of a ticket's status: when, from what, to what, by whom (a user id; null for
    the customer or the system). The first row of a ticket has no ``from_status``."""

    __tablename__ = "service_ticket_status"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="service_ticket.id", index=True)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)
    actor_id: str | None = Field(default=None, max_length=200, foreign_key="auth_user.user_id")


class TicketComment(SQLModel, table=True):
    """A reply on a ticket: public (the customer sees it) or internal (agents only). Written
    by an agent (``author_id``) or by the customer (``from_customer``)."""

    __tablename__ = "service_ticket_comment"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="service_ticket.id", index=True)
    body: str = Field(sa_column=Column(Text, nullable=False, info={"pii": True}))
    public: bool = Field(default=True)
    from_customer: bool = Field(default=False)
    author_id: str | None = Field(default=None, max_length=200, foreign_key="auth_user.user_id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


class TicketInteraction(SQLModel, table=True):
    """A core interaction of the ticket's customer, linked to the ticket."""

    __tablename__ = "service_ticket_interaction"
    __table_args__ = (UniqueConstraint("ticket_id", "interaction_id"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="service_ticket.id", index=True)
    interaction_id: int = Field(foreign_key="interaction.id", index=True)
    linked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


class BusinessCalendar(SQLModel, table=True):
    """Business hours: a time zone, weekly opening hours (``{"MONDAY": ["09:00-17:00"]}``)
    and holidays (ISO dates), read by :mod:`crm_service.hours`."""

    __tablename__ = "service_calendar"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    time_zone: str = Field(max_length=64)
    hours: dict[str, list[str]] = Field(sa_column=Column(JsonColumn, nullable=False))
    holidays: list[str] = Field(default_factory=list, sa_column=Column(JsonColumn, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


class SlaPolicy(SQLModel, table=True):
    """Targets per priority, in business minutes of a calendar:
    ``{"URGENT": {"firstResponse": 60, "resolution": 240}}``. New tickets get the default one."""

    __tablename__ = "service_sla_policy"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    calendar_id: int = Field(foreign_key="service_calendar.id")
    targets: dict[str, dict[str, int]] = Field(sa_column=Column(JsonColumn, nullable=False))
    is_default: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


class SlaNotice(SQLModel, table=True):
    """A warning or breach announced for one target of one ticket: the unique key is what
    makes each event go out exactly once, whichever process notices it first."""

    __tablename__ = "service_sla_notice"
    __table_args__ = (UniqueConstraint("ticket_id", "target", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="service_ticket.id", index=True)
    target: str = Field(max_length=16)  # FIRST_RESPONSE | RESOLUTION
    kind: str = Field(max_length=16)  # WARNING | BREACHED
    due_at: datetime = Field(sa_type=UTCDateTimeColumn)
    noticed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


class Survey(SQLModel, table=True):
    """A CSAT survey of a resolved ticket or an NPS survey of a customer, and its answer.
    ``token`` is the signed single-use link token (empty for demo rows, which have no link)."""

    __tablename__ = "service_survey"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=8)  # CSAT | NPS
    customer_id: int = Field(foreign_key="customer.id", index=True)
    ticket_id: int | None = Field(default=None, foreign_key="service_ticket.id", index=True)
    sent_at: datetime = Field(sa_type=UTCDateTimeColumn)
    expires_at: datetime = Field(sa_type=UTCDateTimeColumn)
    token: str = Field(default="", sa_column=Column(Text, nullable=False))
    message_id: str | None = Field(default=None, max_length=300)
    rating: int | None = Field(default=None)
    comment: str | None = Field(default=None, sa_column=Column(Text, info={"pii": True}))
    responded_at: datetime | None = Field(default=None, sa_type=UTCDateTimeColumn, index=True)


class WebForm(SQLModel, table=True):
    """A contact form that opens tickets (priority and team queue of its own); ``token`` is
    the signed link token the form posts to, refused once the form is closed."""

    __tablename__ = "service_web_form"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    priority: int = Field(default=2)
    team_id: int | None = Field(default=None, foreign_key="auth_team.id")
    token: str = Field(default="", sa_column=Column(Text, nullable=False))
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


class TicketMessage(SQLModel, table=True):
    """An e-mail a ticket was opened or replied to by (its ``Message-ID``): a later mail whose
    ``In-Reply-To`` or ``References`` names it threads into the ticket, and the same mail
    delivered twice is recognised. ``comment_id`` is null for the mail that opened it."""

    __tablename__ = "service_ticket_message"

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(max_length=300, unique=True)
    ticket_id: int = Field(foreign_key="service_ticket.id", index=True)
    comment_id: int | None = Field(default=None, foreign_key="service_ticket_comment.id")
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTimeColumn)


TABLES: list[Any] = [
    Ticket,
    TicketStatusChange,
    TicketComment,
    TicketInteraction,
    BusinessCalendar,
    SlaPolicy,
    SlaNotice,
    Survey,
    WebForm,
    TicketMessage,
]
