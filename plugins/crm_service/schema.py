"""The plugin's GraphQL: the Ticket type and its parts, fields on Customer, the tickets
query and the ticket mutations. Resolvers parse input and call :mod:`crm_service.tickets`."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Annotated, Any, TypeVar

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from crm_graph.plugin import (
    Collector,
    Connection,
    CustomerRow,
    CustomerType,
    InteractionRow,
    InteractionType,
    Related,
    RelatedRows,
    RequestContext,
    RowLookup,
    SortDirection,
    TeamType,
    UserError,
    UserType,
    ValidationFailed,
    batch_field,
    id_arg,
    input_id,
    list_field,
    load_related,
    lookup_field,
    perform,
    personal_data,
    query_error,
    query_field,
    request_time,
    requires,
    table_field,
    team_of,
    to_global_id,
    user_of,
)
from crm_service import (
    clock,
    hours,
    lifecycle,
    metrics,
    policies,
    sla,
    surveys,
    tickets,
    webforms,
)
from crm_service.config import (
    NAME,
    SURVEYS_READ,
    SURVEYS_SEND,
    TICKETS_ADMIN,
    TICKETS_READ,
    TICKETS_WRITE,
)
from crm_service.models import (
    BusinessCalendar,
    SlaPolicy,
    Survey,
    Ticket,
    TicketComment,
    TicketInteraction,
    TicketStatusChange,
    WebForm,
)

T = TypeVar("T")
MAX_METRICS_DAYS = 1100


def global_id_of(type_name: str) -> Callable[[Any], strawberry.ID]:
    """A resolver of the row's global ID (of the row alone: the compiled path calls it)."""

    def id(root: Any) -> strawberry.ID:
        return to_global_id(type_name, root.id)

    return id


def _subject(root: Ticket) -> str:
    return root.subject


def _description(root: Ticket) -> str:
    return root.description


@strawberry.enum(name="TicketStatus", description="Where a ticket is in its lifecycle.")
class TicketStatus(Enum):
    NEW = "NEW"
    OPEN = "OPEN"
    PENDING = "PENDING"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"


@strawberry.enum(name="TicketPriority", description="How urgent a ticket is, LOW to URGENT.")
class TicketPriority(Enum):
    LOW = 1
    NORMAL = 2
    HIGH = 3
    URGENT = 4


@strawberry.enum(name="TicketChannel", description="How the customer reached out.")
class TicketChannel(Enum):
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    CHAT = "CHAT"
    WEB = "WEB"
    SOCIAL = "SOCIAL"


@strawberry.type(name="TicketStatusChange", description="One step of a ticket's status.")
class TicketStatusChangeType:
    from_status: TicketStatus | None = strawberry.field(
        name="from", description="Null for the ticket's first status (NEW)."
    )
    to_status: TicketStatus = strawberry.field(name="to")
    at: datetime
    actor: UserType | None = table_field(
        user_of("actor_id"),
        description="Who changed it; null for the customer (a reply) or the system.",
        metadata=requires("users:read"),
    )


@strawberry.type(name="TicketComment", description="A reply on a ticket, public or internal.")
class TicketCommentType:
    @strawberry.field
    def id(self) -> strawberry.ID:
        return to_global_id("TicketComment", self.id)  # type: ignore[attr-defined]

    body: str = strawberry.field(metadata=personal_data("text"))
    public: bool = strawberry.field(description="Seen by the customer; false: internal note.")
    from_customer: bool = strawberry.field(description="Written by the customer (inbound).")
    created_at: datetime
    author: UserType | None = table_field(
        user_of("author_id"),
        description="The agent who wrote it; null for the customer's replies.",
        metadata=requires("users:read"),
    )


async def ticket_interactions(
    parents: list[Ticket], context: RequestContext
) -> list[list[InteractionRow]]:
    """The interactions linked to each ticket, oldest link first (two statements per level)."""
    links = await load_related(context, LINKS, [ticket.id for ticket in parents])
    wanted = [link.interaction_id for found in links for link in found]
    rows = await load_related(context, INTERACTION, wanted)
    by_id = {row.id: row for row in rows if row is not None}
    return [
        [by_id[link.interaction_id] for link in found if link.interaction_id in by_id]
        for found in links
    ]


LINKS = RelatedRows(TicketInteraction, key="ticket_id", order_by=("linked_at", "id"))
INTERACTION = Related(InteractionRow, key="id")


# SLAs ----------------------------------------------------------------------------------------


@strawberry.type(name="BusinessDay", description="The opening hours of one weekday.")
class BusinessDayType:
    day: str = strawberry.field(description="MONDAY ... SUNDAY.")
    hours: list[str] = strawberry.field(description="Local intervals, HH:MM-HH:MM.")


async def calendar_weeks(
    calendars: list[BusinessCalendar], context: RequestContext
) -> list[list[BusinessDayType]]:
    """Each calendar's opening hours, Monday first (computed from the rows: no statement)."""
    return [
        [
            BusinessDayType(day=day, hours=calendar.hours[day])
            for day in hours.WEEKDAYS
            if day in calendar.hours
        ]
        for calendar in calendars
    ]


@strawberry.type(
    name="BusinessCalendar",
    description="Business hours: a time zone, weekly hours and holidays.",
)
class BusinessCalendarType:
    name: str
    time_zone: str = strawberry.field(description="An IANA time zone, e.g. Europe/Berlin.")
    id: strawberry.ID = strawberry.field(resolver=global_id_of("BusinessCalendar"))
    weekly: list[BusinessDayType] = batch_field(
        calendar_weeks, parent_columns=("hours",), name="hours"
    )

    @strawberry.field(name="holidays")
    def closed_on(self) -> list[date]:
        return [date.fromisoformat(d) for d in self.holidays]  # type: ignore[attr-defined]


@strawberry.type(name="SlaTarget", description="A priority's targets, in business minutes.")
class SlaTargetType:
    priority: TicketPriority
    first_response_minutes: int | None
    resolution_minutes: int | None


async def policy_targets(
    policies: list[SlaPolicy], context: RequestContext
) -> list[list[SlaTargetType]]:
    """Each policy's targets, LOW first (computed from the rows: no statement)."""
    return [
        [
            SlaTargetType(
                priority=TicketPriority[name],
                first_response_minutes=policy.targets[name].get("firstResponse"),
                resolution_minutes=policy.targets[name].get("resolution"),
            )
            for name in lifecycle.PRIORITIES
            if name in policy.targets
        ]
        for policy in policies
    ]


@strawberry.type(name="SlaPolicy", description="First-response and resolution targets.")
class SlaPolicyType:
    name: str
    is_default: bool = strawberry.field(description="New tickets get this policy.")
    calendar: BusinessCalendarType = table_field(
        Related(BusinessCalendar, key="id", parent_key="calendar_id")
    )
    id: strawberry.ID = strawberry.field(resolver=global_id_of("SlaPolicy"))
    targets: list[SlaTargetType] = batch_field(policy_targets, parent_columns=("targets",))


@strawberry.enum(name="SlaState", description="Where a ticket's running SLA targets stand.")
class SlaState(Enum):
    BREACHED = "breached"
    AT_RISK = "at_risk"
    ON_TRACK = "on_track"
    PAUSED = "paused"
    MET = "met"


# A ticket's policy: read once per level by the SLA batch and by TicketSla.policy.
POLICY = Related(SlaPolicy, key="id", parent_key="policy_id")


@strawberry.type(name="TicketSla", description="A ticket's SLA targets, in business hours.")
class TicketSlaType:
    policy_id: strawberry.Private[int]
    policy: SlaPolicyType = table_field(POLICY)
    first_response_due_at: datetime | None = strawberry.field(
        description="When the first reply is due (as it stood when met); null while paused."
    )
    resolution_due_at: datetime | None = strawberry.field(
        description="When resolution is due (as it stood when resolved); null while paused."
    )
    first_response_breached: bool
    resolution_breached: bool
    remaining: int | None = strawberry.field(
        description="Business minutes left on the next open target (negative: overdue); "
        "null when every target is met."
    )
    paused: bool = strawberry.field(description="The clock stands: PENDING for the customer.")
    state: SlaState


def sla_view(state: sla.TicketSla, lead: timedelta, now: datetime) -> TicketSlaType:
    first, resolution = state.first_response, state.resolution
    remaining = state.remaining
    due = state.next_due
    if any(t.breached for t in state.targets):
        shown = SlaState.BREACHED
    elif state.paused:
        shown = SlaState.PAUSED
    elif due is None:
        shown = SlaState.MET
    else:
        shown = SlaState.AT_RISK if due - lead <= now else SlaState.ON_TRACK
    return TicketSlaType(
        policy_id=state.policy.id,  # type: ignore[arg-type]
        first_response_due_at=first.due_at if first else None,
        resolution_due_at=resolution.due_at if resolution else None,
        first_response_breached=bool(first and first.breached),
        resolution_breached=bool(resolution and resolution.breached),
        remaining=None if remaining is None else math.floor(remaining / 60),
        paused=state.paused,
        state=shown,
    )


CALENDAR = Related(BusinessCalendar, key="id")
STATUS_CHANGES = RelatedRows(TicketStatusChange, key="ticket_id", order_by=("at", "id"))


async def ticket_slas(parents: list[Ticket], context: RequestContext) -> list[Any]:
    """Each ticket's SLA now, from its policy, calendar and status history (three relations
    read once per level)."""
    now = clock.now()
    lead = context.app.plugin_settings(NAME).sla_warning_lead
    found = await load_related(context, POLICY, [t.sla_policy_id for t in parents])
    calendars = await load_related(context, CALENDAR, [p.calendar_id for p in found if p])
    by_id = {c.id: sla.calendar_of(c) for c in calendars if c is not None}
    history = await load_related(context, STATUS_CHANGES, [t.id for t in parents])
    answers: list[Any] = []
    for ticket, policy, changes in zip(parents, found, history, strict=True):
        if policy is None or policy.calendar_id not in by_id:
            answers.append(None)
            continue
        state = sla.evaluate(ticket, policy, by_id[policy.calendar_id], changes, now)
        answers.append(sla_view(state, lead, now))
    return answers


# Surveys and metrics -------------------------------------------------------------------------


@strawberry.enum(name="SurveyKind", description="CSAT (1-5, after a ticket) or NPS (0-10).")
class SurveyKind(Enum):
    CSAT = "CSAT"
    NPS = "NPS"


async def survey_links(rows: list[Survey], context: RequestContext) -> list[str | None]:
    """Each survey's link while it can be answered (computed from the rows: no statement)."""
    settings = context.app.plugin_settings(NAME)
    now = clock.now()
    return [
        surveys.link(settings, row.token)
        if row.token and row.responded_at is None and row.expires_at > now
        else None
        for row in rows
    ]


@strawberry.type(name="Survey", description="A CSAT or NPS survey and its answer.")
class SurveyType:
    kind: SurveyKind
    rating: int | None = strawberry.field(description="Null until answered.")
    comment: str | None = strawberry.field(metadata=personal_data("text"))
    sent_at: datetime
    expires_at: datetime
    responded_at: datetime | None

    customer: CustomerType = table_field(
        Related(CustomerRow, key="id", parent_key="customer_id"),
        metadata=requires("customers:read"),
    )
    id: strawberry.ID = strawberry.field(resolver=global_id_of("Survey"))
    link: str | None = batch_field(
        survey_links,
        parent_columns=("token", "responded_at", "expires_at"),
        description="The link the customer answers through (POST a rating to it); null once "
        "answered or expired.",
    )


@strawberry.enum(name="MetricsGrouping")
class MetricsGrouping(Enum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


@strawberry.type(
    name="ServicePeriod",
    description="One day, ISO week or month of service numbers (times in business hours).",
)
class ServicePeriodType:
    start: date
    end: date = strawberry.field(description="The period's last day (included).")
    created: int = strawberry.field(description="Tickets opened in the period.")
    resolved: int = strawberry.field(description="Tickets resolved in the period (once each).")
    backlog: int = strawberry.field(description="Tickets unresolved at the period's end.")
    first_response_median: float | None = strawberry.field(
        description="Median business hours to the first public reply, of the replies made in "
        "the period."
    )
    first_response_p90: float | None
    first_responses: int
    resolution_median: float | None = strawberry.field(
        description="Median business hours the clock ran until resolution, of the tickets "
        "resolved in the period."
    )
    resolution_p90: float | None
    sla_attainment: float | None = strawberry.field(
        description="Percent of the SLA targets of the tickets resolved in the period that "
        "were met; null without targets."
    )
    sla_targets: int
    csat: float | None = strawberry.field(
        description="Percent of CSAT ratings of 4 or 5; null without answers.",
        metadata=requires(SURVEYS_READ),
    )
    csat_responses: int
    nps: float | None = strawberry.field(
        description="Percent promoters (9-10) minus percent detractors (0-6); null without "
        "answers.",
        metadata=requires(SURVEYS_READ),
    )
    nps_responses: int


@strawberry.type(name="Ticket", description="A customer's request for help.")
class TicketType:
    @strawberry.field
    def id(self) -> strawberry.ID:
        return to_global_id("Ticket", self.id)  # type: ignore[attr-defined]

    # Resolvers of the row alone, not plain attributes: the compiled path masks personal
    # data computed so in the objects a batch field returns (Customer.tickets are such).
    subject: str = strawberry.field(resolver=_subject, metadata=personal_data("text"))
    description: str = strawberry.field(resolver=_description, metadata=personal_data("text"))
    channel: TicketChannel
    priority: TicketPriority
    status: TicketStatus
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None = strawberry.field(
        description="The first public reply by an agent (stops the first-response clock)."
    )
    resolved_at: datetime | None = strawberry.field(
        description="When it was last resolved; null while unresolved (also after a reopen)."
    )
    closed_at: datetime | None
    version: int = strawberry.field(description="Send as expectedVersion to detect conflicts.")

    @strawberry.field(description="The statuses this ticket may move to now.")
    def allowed_statuses(self) -> list[TicketStatus]:
        return [TicketStatus(s) for s in lifecycle.allowed(self.status)]  # type: ignore[attr-defined]

    customer: CustomerType = table_field(
        Related(CustomerRow, key="id", parent_key="customer_id"),
        metadata=requires("customers:read"),
    )
    assignee: UserType | None = table_field(
        user_of("assignee_id"),
        description="The agent working on it.",
        metadata=requires("users:read"),
    )
    team: TeamType | None = table_field(
        team_of("team_id"), description="The team queue it is in.", metadata=requires("users:read")
    )
    status_changes: list[TicketStatusChangeType] = table_field(
        RelatedRows(TicketStatusChange, key="ticket_id", order_by=("at", "id")),
        description="Every status the ticket had, oldest first, with time and actor.",
    )
    comments: list[TicketCommentType] = table_field(
        RelatedRows(TicketComment, key="ticket_id", order_by=("created_at", "id")),
        description="Replies and internal notes, oldest first.",
    )
    interactions: list[InteractionType] = batch_field(
        ticket_interactions,
        description="Core interactions of the customer linked to this ticket.",
        metadata=requires("interactions:read"),
    )
    survey: SurveyType | None = table_field(
        Related(Survey, key="ticket_id"),
        description="The CSAT survey made when the ticket was first resolved.",
        metadata=requires(SURVEYS_READ),
    )
    sla: TicketSlaType | None = batch_field(
        ticket_slas,
        parent_columns=("id", "priority", "status", "first_response_at", "sla_policy_id"),
        description="The SLA targets of the ticket's policy; null without a policy.",
    )


# Fields on Customer -------------------------------------------------------------------------

TICKETS_OF = RelatedRows(Ticket, key="customer_id", order_by=("-created_at", "-id"))


async def _visible_tickets(
    customers: list[CustomerRow], context: RequestContext, open_only: bool
) -> list[list[Ticket]]:
    found = await load_related(context, TICKETS_OF, [c.id for c in customers])
    reach = tickets.viewer(context.principal, TICKETS_READ)
    return [
        [t for t in rows if not open_only or t.status in lifecycle.UNRESOLVED]
        if reach.sees(customer.owner_id)
        else []
        for customer, rows in zip(customers, found, strict=True)
    ]


async def customer_tickets(customers: list[CustomerRow], context: RequestContext) -> list[Any]:
    return await _visible_tickets(customers, context, open_only=False)


async def customer_open_tickets(customers: list[CustomerRow], context: RequestContext) -> list[Any]:
    return await _visible_tickets(customers, context, open_only=True)


async def customer_open_ticket_counts(
    customers: list[CustomerRow], context: RequestContext
) -> list[int]:
    """How many unresolved tickets each customer has (a plain value: the compiled path
    serves it without falling back)."""
    return [len(found) for found in await _visible_tickets(customers, context, open_only=True)]


@strawberry.type
class CustomerService:
    """Fields merged onto ``Customer``: its tickets, as far as the caller's scope reaches."""

    tickets: list[TicketType] = batch_field(
        customer_tickets,
        parent_columns=("id", "owner_id"),
        description="The customer's tickets, newest first.",
        metadata=requires(TICKETS_READ),
    )
    open_tickets: list[TicketType] = batch_field(
        customer_open_tickets,
        parent_columns=("id", "owner_id"),
        description="The customer's unresolved tickets (NEW, OPEN, PENDING), newest first.",
        metadata=requires(TICKETS_READ),
    )
    open_ticket_count: int = batch_field(
        customer_open_ticket_counts,
        parent_columns=("id", "owner_id"),
        description="How many unresolved tickets the customer has.",
        metadata=requires(TICKETS_READ),
    )


# The tickets query -------------------------------------------------------------------------


@strawberry.input(description="Tickets matching every condition given.")
class TicketFilter:
    customer_id: strawberry.ID | None = None
    statuses: list[TicketStatus] | None = None
    priorities: list[TicketPriority] | None = None
    channels: list[TicketChannel] | None = None
    assignee_id: str | None = strawberry.field(default=None, description="A user id.")
    unassigned: bool | None = strawberry.field(
        default=None, description="true: no assignee; false: an assignee."
    )
    team_id: strawberry.ID | None = None
    tag: str | None = None
    sla_state: SlaState | None = strawberry.field(
        default=None,
        description="BREACHED, AT_RISK (due within the warning lead time) or ON_TRACK; "
        "PAUSED and MET match no ticket here.",
    )
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None


@strawberry.enum(name="TicketSortField")
class TicketSortField(Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    PRIORITY = "priority"


@strawberry.input
class TicketOrderBy:
    field: TicketSortField = TicketSortField.CREATED_AT
    direction: SortDirection = SortDirection.DESC


def ticket_list(principal: Any, filter: TicketFilter | None, app: Any) -> Any:
    """The SELECT of the tickets a filter asks for (the list applies the caller's reach); the
    SLA states compare with the plugin's clock at each run, ``app``'s warning lead after it."""
    statement = select(Ticket)
    if filter is None:
        return statement
    if filter.customer_id is not None:
        statement = statement.where(
            Ticket.customer_id == id_arg(filter.customer_id, "Customer", "filter.customerId")
        )
    if filter.statuses is not None:
        statement = statement.where(Ticket.status.in_([s.value for s in filter.statuses]))
    if filter.priorities is not None:
        statement = statement.where(Ticket.priority.in_([p.value for p in filter.priorities]))
    if filter.channels is not None:
        statement = statement.where(Ticket.channel.in_([c.value for c in filter.channels]))
    if filter.assignee_id is not None:
        statement = statement.where(Ticket.assignee_id == filter.assignee_id)
    if filter.unassigned is not None:
        column = Ticket.assignee_id
        statement = statement.where(column.is_(None) if filter.unassigned else column.is_not(None))
    if filter.team_id is not None:
        statement = statement.where(
            Ticket.team_id == id_arg(filter.team_id, "Team", "filter.teamId")
        )
    if filter.sla_state is not None:
        lead = app.plugin_settings(NAME).sla_warning_lead
        now = request_time(Ticket.sla_due_at, clock=tickets.sla_clock)
        soon = request_time(Ticket.sla_due_at, after=lead, clock=tickets.sla_clock)
        statement = statement.where(tickets.sla_condition(filter.sla_state.value, now, soon))
    if filter.tag is not None:
        tag = filter.tag.strip().lower()
        statement = statement.where(Ticket.id.in_(tickets.tagged(tag)))
    for column, bound, newer in (
        (Ticket.created_at, filter.created_after, True),
        (Ticket.created_at, filter.created_before, False),
        (Ticket.updated_at, filter.updated_after, True),
    ):
        if bound is not None:
            statement = statement.where(column >= bound if newer else column < bound)
    return statement


async def service_periods(
    context: RequestContext,
    from_: Annotated[date, strawberry.argument(name="from")],
    to: date,
    team: strawberry.ID | None = None,
    group_by: MetricsGrouping = MetricsGrouping.MONTH,
) -> list[ServicePeriodType]:
    """The service numbers of each period, computed once per request."""
    if to < from_:
        raise query_error("INVALID_ARGUMENT", "to is before from", "to")
    if (to - from_).days > MAX_METRICS_DAYS:
        raise query_error("INVALID_ARGUMENT", f"at most {MAX_METRICS_DAYS} days at a time", "to")
    team_id = None if team is None else id_arg(team, "Team", "team")
    async with context.app.read() as session:
        found = await metrics.service_metrics(session, from_, to, group_by.value, team_id)
    return [ServicePeriodType(**vars(period)) for period in found]


@strawberry.type
class ServiceQueries:
    # Attributes, not methods: strawberry lists method fields after attribute fields, and the
    # schema keeps its order.
    ticket: TicketType | None = lookup_field(
        RowLookup(Ticket, TICKETS_READ, owner=tickets.OWNER),
        description="One ticket by ID, if the caller may see it.",
    )
    tickets: Connection[TicketType] = list_field(
        Ticket,
        ticket_list,
        TicketFilter,
        TicketOrderBy,
        permission=TICKETS_READ,
        owner=tickets.OWNER,
        description="Tickets by status, priority, assignee, team, tag and dates.",
    )

    service_metrics: list[ServicePeriodType] = query_field(
        service_periods,
        description="Service numbers per day, ISO week or month of [from, to] (UTC dates, both "
        "included), optionally for one team's tickets.",
        metadata=requires(TICKETS_READ),
    )

    @strawberry.field(description="Contact forms, by name.", metadata=requires(TICKETS_ADMIN))
    async def web_forms(self, info: Info) -> list[WebFormType]:
        async with info.context.app.read() as session:
            return list(await session.scalars(select(WebForm).order_by(WebForm.name)))  # type: ignore[arg-type]

    @strawberry.field(description="SLA policies, by name.", metadata=requires(TICKETS_READ))
    async def sla_policies(self, info: Info) -> list[SlaPolicyType]:
        async with info.context.app.read() as session:
            return list(await session.scalars(select(SlaPolicy).order_by(SlaPolicy.name)))  # type: ignore[arg-type]

    @strawberry.field(
        description="Business-hours calendars, by name.", metadata=requires(TICKETS_READ)
    )
    async def business_calendars(self, info: Info) -> list[BusinessCalendarType]:
        async with info.context.app.read() as session:
            statement = select(BusinessCalendar).order_by(BusinessCalendar.name)
            return list(await session.scalars(statement))  # type: ignore[arg-type]


# Mutations -----------------------------------------------------------------------------------


@strawberry.input
class CreateTicketInput:
    customer_id: strawberry.ID
    subject: str
    description: str = ""
    channel: TicketChannel = TicketChannel.WEB
    priority: TicketPriority = TicketPriority.NORMAL
    assignee_id: str | None = strawberry.field(default=None, description="A user id.")
    team_id: strawberry.ID | None = None
    tags: list[str] = strawberry.field(default_factory=list)
    sla_policy_id: strawberry.ID | None = strawberry.field(
        default=None, description="Null: the default policy (if any)."
    )


@strawberry.input
class UpdateTicketInput:
    id: strawberry.ID
    expected_version: int | None = None
    subject: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    channel: TicketChannel | None = strawberry.UNSET
    priority: TicketPriority | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET


@strawberry.input
class AssignTicketInput:
    id: strawberry.ID
    expected_version: int | None = None
    assignee_id: str | None = strawberry.field(default=None, description="A user id; null: none.")
    team_id: strawberry.ID | None = strawberry.field(default=None, description="Null: no team.")


@strawberry.input
class ChangeTicketStatusInput:
    id: strawberry.ID
    status: TicketStatus
    expected_version: int | None = None


@strawberry.input
class AddTicketCommentInput:
    ticket_id: strawberry.ID
    body: str
    public: bool = strawberry.field(
        default=True, description="false: an internal note, never shown to the customer."
    )
    from_customer: bool = strawberry.field(
        default=False, description="Record a reply the customer sent (by phone, in a chat...)."
    )


@strawberry.input
class LinkTicketInteractionInput:
    ticket_id: strawberry.ID
    interaction_id: strawberry.ID


@strawberry.input
class BusinessDayInput:
    day: str = strawberry.field(description="MONDAY ... SUNDAY.")
    hours: list[str] = strawberry.field(
        description='Local intervals: ["09:00-12:00", "13:00-17:00"].'
    )


@strawberry.input
class CreateBusinessCalendarInput:
    name: str
    time_zone: str = strawberry.field(description="An IANA time zone, e.g. Europe/Berlin.")
    hours: list[BusinessDayInput]
    holidays: list[date] = strawberry.field(default_factory=list)


@strawberry.input
class SlaTargetInput:
    priority: TicketPriority
    first_response_minutes: int | None = None
    resolution_minutes: int | None = None


@strawberry.input
class CreateSlaPolicyInput:
    name: str
    calendar_id: strawberry.ID
    targets: list[SlaTargetInput] = strawberry.field(description="In business minutes.")
    is_default: bool = strawberry.field(
        default=False, description="New tickets get it (the previous default stops being one)."
    )


@strawberry.type
class BusinessCalendarPayload:
    calendar: BusinessCalendarType | None
    errors: list[UserError]


@strawberry.type
class SlaPolicyPayload:
    policy: SlaPolicyType | None
    errors: list[UserError]


@strawberry.type
class TicketPayload:
    ticket: TicketType | None
    errors: list[UserError]


@strawberry.type
class AddTicketCommentPayload:
    ticket: TicketType | None
    comment: TicketCommentType | None
    errors: list[UserError]


def _team_id(value: strawberry.ID | None, *path: str) -> int | None:
    return None if value is None else input_id(value, "Team", *path)


def _decoded(errors: Collector, decode: Callable[..., int | None], *arguments: Any) -> int | None:
    """A decoded ID of the input (its last argument names the field), or None with the
    problem added to ``errors``, so every problem of the input is reported at once."""
    *values, field = arguments
    try:
        return decode(*values, "input", field)
    except ValidationFailed as exc:
        errors.errors.extend(exc.errors)
        return None


async def _on_ticket(
    info: Info,
    ticket_id: strawberry.ID,
    expected_version: int | None,
    change: Callable[[AsyncSession, Ticket], Awaitable[T]],
    field: str = "id",
) -> tuple[T | None, list[UserError]]:
    """Run ``change`` on one ticket the caller may change, in one unit of work."""

    async def work(session: AsyncSession) -> T:
        pk = input_id(ticket_id, "Ticket", "input", field)
        # The mutation's permission scopes the unit of work: a ticket of a customer out of
        # the caller's reach is not found (the core's ownership scopes).
        ticket = await tickets.editable(session, pk, expected_version, "input", field)
        return await change(session, ticket)

    return await perform(info, work)


def _actor(info: Info) -> str | None:
    return info.context.principal.user_id


@strawberry.type
class ServiceMutations:
    @strawberry.mutation(
        description="Open a ticket for a customer; nothing on any error.",
        metadata=requires(TICKETS_WRITE),
    )
    async def create_ticket(self, info: Info, input: CreateTicketInput) -> TicketPayload:
        async def work(session: AsyncSession) -> Ticket:
            errors = Collector()
            customer_id = _decoded(errors, input_id, input.customer_id, "Customer", "customerId")
            team_id = _decoded(errors, _team_id, input.team_id, "teamId")
            policy_id = None
            if input.sla_policy_id is not None:
                policy_id = _decoded(
                    errors, input_id, input.sla_policy_id, "SlaPolicy", "slaPolicyId"
                )
            new = tickets.NewTicket(
                customer_id=customer_id or 0,
                subject=input.subject,
                description=input.description,
                channel=input.channel.value,
                priority=input.priority.name,
                assignee_id=input.assignee_id,
                team_id=team_id,
                tags=input.tags,
                sla_policy_id=policy_id,
            )
            return await tickets.create(session, new, _actor(info), errors=errors)

        ticket, errors = await perform(info, work)
        return TicketPayload(ticket=ticket, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Change a ticket's subject, description, channel, priority or tags.",
        metadata=requires(TICKETS_WRITE),
    )
    async def update_ticket(self, info: Info, input: UpdateTicketInput) -> TicketPayload:
        changes: dict[str, Any] = {}
        for name in ("subject", "description", "channel", "priority", "tags"):
            value = getattr(input, name)
            if value is strawberry.UNSET:
                continue
            if isinstance(value, Enum):
                value = value.name
            changes[name] = value if value is not None else ([] if name == "tags" else "")
        ticket, errors = await _on_ticket(
            info,
            input.id,
            input.expected_version,
            lambda session, ticket: tickets.edit(session, ticket, changes, ("input",)),
        )
        return TicketPayload(ticket=ticket, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Give a ticket to an agent and/or a team queue.",
        metadata=requires(TICKETS_WRITE),
    )
    async def assign_ticket(self, info: Info, input: AssignTicketInput) -> TicketPayload:
        async def change(session: AsyncSession, ticket: Ticket) -> Ticket:
            team_id = _team_id(input.team_id, "input", "teamId")
            return await tickets.assign(session, ticket, input.assignee_id, team_id)

        ticket, errors = await _on_ticket(info, input.id, input.expected_version, change)
        return TicketPayload(ticket=ticket, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Move a ticket through its lifecycle; an illegal move is an "
        "INVALID_TRANSITION error naming the allowed ones.",
        metadata=requires(TICKETS_WRITE),
    )
    async def change_ticket_status(
        self, info: Info, input: ChangeTicketStatusInput
    ) -> TicketPayload:
        ticket, errors = await _on_ticket(
            info,
            input.id,
            input.expected_version,
            lambda session, ticket: tickets.change_status(
                session, ticket, input.status.value, _actor(info), app=info.context.app
            ),
        )
        return TicketPayload(ticket=ticket, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Reply on a ticket (public) or add an internal note.",
        metadata=requires(TICKETS_WRITE),
    )
    async def add_ticket_comment(
        self, info: Info, input: AddTicketCommentInput
    ) -> AddTicketCommentPayload:
        async def change(session: AsyncSession, ticket: Ticket) -> tuple[Ticket, TicketComment]:
            comment = await tickets.add_comment(
                session, ticket, input.body, input.public, _actor(info), input.from_customer
            )
            return ticket, comment

        result, errors = await _on_ticket(info, input.ticket_id, None, change, "ticketId")
        ticket, comment = result if result else (None, None)
        return AddTicketCommentPayload(ticket=ticket, comment=comment, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Link an interaction of the ticket's customer to the ticket.",
        metadata=requires(TICKETS_WRITE),
    )
    async def link_ticket_interaction(
        self, info: Info, input: LinkTicketInteractionInput
    ) -> TicketPayload:
        async def change(session: AsyncSession, ticket: Ticket) -> Ticket:
            pk = input_id(input.interaction_id, "Interaction", "input", "interactionId")
            await tickets.link_interaction(session, ticket, pk)
            return ticket

        ticket, errors = await _on_ticket(info, input.ticket_id, None, change, "ticketId")
        return TicketPayload(ticket=ticket, errors=errors)  # type: ignore[arg-type]


@strawberry.input
class SendNpsSurveyInput:
    customer_id: strawberry.ID


@strawberry.type
class SurveyPayload:
    survey: SurveyType | None
    errors: list[UserError]


@strawberry.type
class SurveyMutations:
    @strawberry.mutation(
        description="Send a customer an NPS survey (0-10): a link, e-mailed when a sender and "
        "SMTP are configured.",
        metadata=requires(SURVEYS_SEND),
    )
    async def send_nps_survey(self, info: Info, input: SendNpsSurveyInput) -> SurveyPayload:
        async def work(session: AsyncSession) -> Survey:
            pk = input_id(input.customer_id, "Customer", "input", "customerId")
            customer = await tickets.live_customer(session, pk, "input", "customerId")
            return await surveys.send(session, info.context.app, surveys.NPS, customer)

        survey, errors = await perform(info, work)
        return SurveyPayload(survey=survey, errors=errors)  # type: ignore[arg-type]


@strawberry.type(name="WebForm", description="A contact form on your site that opens tickets.")
class WebFormType:
    @strawberry.field
    def id(self) -> strawberry.ID:
        return to_global_id("WebForm", self.id)  # type: ignore[attr-defined]

    name: str
    priority: TicketPriority
    active: bool = strawberry.field(description="A closed form refuses posts (410).")
    team: TeamType | None = table_field(team_of("team_id"), metadata=requires("users:read"))

    @strawberry.field(
        description="Where the form posts: POST a JSON {name, email, subject, description}."
    )
    def url(self) -> str:
        return f"/p/service/forms/{self.token}"  # type: ignore[attr-defined]


@strawberry.input
class CreateWebFormInput:
    name: str
    priority: TicketPriority = TicketPriority.NORMAL
    team_id: strawberry.ID | None = strawberry.field(
        default=None, description="The team queue its tickets go to."
    )


@strawberry.input
class CloseWebFormInput:
    id: strawberry.ID


@strawberry.type
class WebFormPayload:
    form: WebFormType | None
    errors: list[UserError]


@strawberry.type
class WebFormMutations:
    @strawberry.mutation(
        description="Make a contact form that opens tickets, with its own link.",
        metadata=requires(TICKETS_ADMIN),
    )
    async def create_web_form(self, info: Info, input: CreateWebFormInput) -> WebFormPayload:
        async def work(session: AsyncSession) -> WebForm:
            team_id = _team_id(input.team_id, "input", "teamId")
            return await webforms.create(
                session, info.context.app, input.name, input.priority.name, team_id
            )

        form, errors = await perform(info, work)
        return WebFormPayload(form=form, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Close a contact form: its link is refused from now on.",
        metadata=requires(TICKETS_ADMIN),
    )
    async def close_web_form(self, info: Info, input: CloseWebFormInput) -> WebFormPayload:
        async def work(session: AsyncSession) -> WebForm:
            pk = input_id(input.id, "WebForm", "input", "id")
            return await webforms.close(session, pk, ("input",))

        form, errors = await perform(info, work)
        return WebFormPayload(form=form, errors=errors)  # type: ignore[arg-type]


@strawberry.type
class SlaMutations:
    @strawberry.mutation(
        description="Define business hours (time zone, weekly hours, holidays).",
        metadata=requires(TICKETS_ADMIN),
    )
    async def create_business_calendar(
        self, info: Info, input: CreateBusinessCalendarInput
    ) -> BusinessCalendarPayload:
        weekly = {day.day: day.hours for day in input.hours}
        holidays = [d.isoformat() for d in input.holidays]
        calendar, errors = await perform(
            info,
            lambda session: policies.create_calendar(
                session, input.name, input.time_zone, weekly, holidays
            ),
        )
        return BusinessCalendarPayload(calendar=calendar, errors=errors)  # type: ignore[arg-type]

    @strawberry.mutation(
        description="Define first-response and resolution targets per priority.",
        metadata=requires(TICKETS_ADMIN),
    )
    async def create_sla_policy(self, info: Info, input: CreateSlaPolicyInput) -> SlaPolicyPayload:
        async def work(session: AsyncSession) -> SlaPolicy:
            calendar_id = input_id(input.calendar_id, "BusinessCalendar", "input", "calendarId")
            targets = {
                t.priority.name: {
                    "firstResponse": t.first_response_minutes,
                    "resolution": t.resolution_minutes,
                }
                for t in input.targets
            }
            return await policies.create_policy(
                session, input.name, calendar_id, targets, input.is_default
            )

        policy, errors = await perform(info, work)
        return SlaPolicyPayload(policy=policy, errors=errors)  # type: ignore[arg-type]


TYPES = [TicketType, TicketStatusChangeType, TicketCommentType, SlaPolicyType, SurveyType]
