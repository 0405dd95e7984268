"""Ticket rules: creating, assigning, moving through the status machine, replies, linked
interactions, who may see which ticket, merge and erasure. No GraphQL here.

Every change runs in the caller's unit of work (``perform`` or ``app.write()``) and emits its
events in it, so a ticket, its history and its events commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    AppContext,
    Collector,
    CustomerRow,
    InteractionRow,
    emit,
    fail,
    team_exists,
    user_exists,
)
from crm_service import clock, lifecycle, sla, surveys
from crm_service.config import NAME
from crm_service.models import (
    SlaPolicy,
    Ticket,
    TicketComment,
    TicketInteraction,
    TicketStatusChange,
)
from crm_service.values import ERASED, MAX_SUBJECT, MAX_TEXT, clean, clean_tags, one_of


@dataclass
class NewTicket:
    """A ticket's fields as given (mutation, import, web form, e-mail), before checking."""

    customer_id: int
    subject: Any
    description: Any = ""
    channel: str = "WEB"
    priority: str = "NORMAL"
    assignee_id: str | None = None
    team_id: int | None = None
    tags: Sequence[Any] = ()
    created_at: datetime | None = None
    sla_policy_id: int | None = None


def check_new(new: NewTicket, errors: Collector, at: tuple[str, ...] = ("input",)) -> NewTicket:
    """The rules needing no database, for every way a ticket comes in."""
    return NewTicket(
        customer_id=new.customer_id,
        subject=clean(new.subject, errors, (*at, "subject"), MAX_SUBJECT, True),
        description=clean(new.description, errors, (*at, "description"), MAX_TEXT, False),
        channel=one_of(new.channel, lifecycle.CHANNELS, errors, (*at, "channel")),
        priority=one_of(new.priority, tuple(lifecycle.PRIORITIES), errors, (*at, "priority")),
        assignee_id=new.assignee_id,
        team_id=new.team_id,
        tags=clean_tags(new.tags, errors, (*at, "tags")),
        created_at=new.created_at,
        sla_policy_id=new.sla_policy_id,
    )


async def live_customer(session: AsyncSession, customer_id: int, *path: str) -> CustomerRow:
    customer = await session.get(CustomerRow, customer_id)
    if customer is None or customer.deleted_at is not None:
        raise fail("NOT_FOUND", "no such customer", *path)
    return customer


async def check_people(
    session: AsyncSession,
    assignee_id: str | None,
    team_id: int | None,
    errors: Collector,
    at: tuple[str, ...],
) -> None:
    if assignee_id is not None and not await user_exists(session, assignee_id):
        errors.add("NOT_FOUND", "no such user", *at, "assigneeId")
    if team_id is not None and not await team_exists(session, team_id):
        errors.add("NOT_FOUND", "no such team", *at, "teamId")


async def create(
    session: AsyncSession,
    new: NewTicket,
    actor_id: str | None,
    at: tuple[str, ...] = ("input",),
    errors: Collector | None = None,
) -> Ticket:
    """Open a ticket for a live customer: its first status row (NEW), ``ticket.created`` and,
    when it is assigned at once, ``ticket.assigned``. Every problem at once, with those the
    caller found decoding its input (``errors``)."""
    errors = errors or Collector()
    checked = check_new(new, errors, at)
    await check_people(session, checked.assignee_id, checked.team_id, errors, at)
    policy = None
    if checked.sla_policy_id is not None:
        policy = await session.get(SlaPolicy, checked.sla_policy_id)
        if policy is None:
            errors.add("NOT_FOUND", "no such SLA policy", *at, "slaPolicyId")
    errors.check()
    await live_customer(session, checked.customer_id, *at, "customerId")
    policy = policy or await sla.default_policy(session)
    now = checked.created_at or clock.now()
    ticket = Ticket(
        customer_id=checked.customer_id,
        subject=checked.subject,
        description=checked.description,
        channel=checked.channel,
        priority=lifecycle.PRIORITIES[checked.priority],
        assignee_id=checked.assignee_id,
        team_id=checked.team_id,
        tags=list(checked.tags),
        created_at=now,
        updated_at=now,
        sla_policy_id=policy.id if policy else None,
    )
    session.add(ticket)
    await session.flush()
    session.add(TicketStatusChange(ticket_id=ticket.id, to_status="NEW", at=now, actor_id=actor_id))
    await emit(session, "ticket.created", "Ticket", ticket.id, lifecycle.summary(ticket))
    if ticket.assignee_id is not None or ticket.team_id is not None:
        await emit(session, "ticket.assigned", "Ticket", ticket.id, lifecycle.summary(ticket))
    await sla.settle(session, ticket, clock.now(), None)
    return ticket


async def editable(
    session: AsyncSession,
    ticket_id: int,
    expected_version: int | None,
    at: str = "input",
    field: str = "id",
) -> Ticket:
    """The ticket to change (the caller's scope applies), locked, at the version expected."""
    ticket = await session.scalar(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    if ticket is None:
        raise fail("NOT_FOUND", "no such ticket", at, field)
    if expected_version is not None and expected_version != ticket.version:
        raise fail(
            "CONFLICT",
            f"the ticket is at version {ticket.version}, not {expected_version}; reload and retry",
            at,
            "expectedVersion",
        )
    return ticket


def touch(ticket: Ticket, now: datetime) -> None:
    ticket.updated_at = now
    ticket.version += 1


async def change_status(
    session: AsyncSession,
    ticket: Ticket,
    status: str,
    actor_id: str | None,
    at: tuple[str, ...] = ("input", "status"),
    now: datetime | None = None,
    app: AppContext | None = None,
) -> Ticket:
    """Move the ticket to ``status`` if the machine allows it (a user error naming the
    allowed moves otherwise), keeping the step with its time and actor. Resolving it (with
    ``app``) makes its CSAT survey and emits ``ticket.resolved`` with the survey's link."""
    problem = lifecycle.transition_problem(ticket.status, status)
    if problem is not None:
        raise fail("INVALID_TRANSITION", problem, *at)
    now = now or clock.now()
    before = ticket.status
    ticket.status = status
    if status == "RESOLVED":
        ticket.resolved_at = now
    elif status == "CLOSED":
        ticket.closed_at = now
    elif before == "RESOLVED":  # reopened: no longer resolved
        ticket.resolved_at = None
    touch(ticket, now)
    session.add(
        TicketStatusChange(
            ticket_id=ticket.id, from_status=before, to_status=status, at=now, actor_id=actor_id
        )
    )
    payload = {**lifecycle.summary(ticket), "from": before, "to": status}
    await emit(session, "ticket.status_changed", "Ticket", ticket.id, payload)
    if status == "RESOLVED" and app is not None:
        survey = await surveys.on_resolved(session, app, ticket)
        url = surveys.link(app.plugin_settings(NAME), survey.token) if survey else None
        resolved = {**lifecycle.summary(ticket), "surveyUrl": url}
        await emit(session, "ticket.resolved", "Ticket", ticket.id, resolved)
    await sla.settle(session, ticket, now, None)
    return ticket


async def assign(
    session: AsyncSession,
    ticket: Ticket,
    assignee_id: str | None,
    team_id: int | None,
    at: tuple[str, ...] = ("input",),
) -> Ticket:
    """Give the ticket to a user and/or a team queue (null clears); ``ticket.assigned``."""
    errors = Collector()
    await check_people(session, assignee_id, team_id, errors, at)
    errors.check()
    if (ticket.assignee_id, ticket.team_id) == (assignee_id, team_id):
        return ticket
    ticket.assignee_id, ticket.team_id = assignee_id, team_id
    touch(ticket, clock.now())
    await emit(session, "ticket.assigned", "Ticket", ticket.id, lifecycle.summary(ticket))
    return ticket


async def edit(
    session: AsyncSession, ticket: Ticket, changes: dict[str, Any], at: tuple[str, ...]
) -> Ticket:
    """Change subject, description, channel, priority or tags (the keys given)."""
    errors = Collector()
    if "subject" in changes:
        ticket.subject = clean(changes["subject"], errors, (*at, "subject"), MAX_SUBJECT, True)
    if "description" in changes:
        text = clean(changes["description"], errors, (*at, "description"), MAX_TEXT, False)
        ticket.description = text
    if "channel" in changes:
        ticket.channel = one_of(changes["channel"], lifecycle.CHANNELS, errors, (*at, "channel"))
    if "priority" in changes:
        name = one_of(changes["priority"], tuple(lifecycle.PRIORITIES), errors, (*at, "priority"))
        ticket.priority = lifecycle.PRIORITIES.get(name, ticket.priority)
    if "tags" in changes:
        ticket.tags = clean_tags(changes["tags"], errors, (*at, "tags"))
    errors.check()
    if ticket.status == "CLOSED":
        raise fail("TICKET_CLOSED", "a closed ticket cannot change", *at, "id")
    now = clock.now()
    touch(ticket, now)
    await sla.settle(session, ticket, now, None)  # the priority chooses the targets
    return ticket


async def add_comment(
    session: AsyncSession,
    ticket: Ticket,
    body: Any,
    public: bool,
    author_id: str | None,
    from_customer: bool = False,
    at: tuple[str, ...] = ("input",),
    now: datetime | None = None,
) -> TicketComment:
    """A reply on the ticket. The first public reply by an agent stops the first-response
    clock and opens a NEW ticket; a customer's reply reopens a PENDING or RESOLVED one (as in
    Zendesk). A closed ticket takes no more replies."""
    errors = Collector()
    text = clean(body, errors, (*at, "body"), MAX_TEXT, True)
    errors.check()
    if ticket.status == "CLOSED":
        raise fail("TICKET_CLOSED", "a closed ticket takes no replies; open a new one", *at)
    if from_customer and not public:
        raise fail("INVALID_VALUE", "a customer's reply is public", *at, "public")
    now = now or clock.now()
    comment = TicketComment(
        ticket_id=ticket.id,
        body=text,
        public=public,
        from_customer=from_customer,
        author_id=None if from_customer else author_id,
        created_at=now,
    )
    session.add(comment)
    agent_reply = public and not from_customer
    if agent_reply and ticket.first_response_at is None:
        ticket.first_response_at = now
    if agent_reply and ticket.status == "NEW":
        await change_status(session, ticket, "OPEN", author_id, now=now)
    elif from_customer and ticket.status in ("PENDING", "RESOLVED"):
        await change_status(session, ticket, "OPEN", None, now=now)
    else:
        touch(ticket, now)
    await sla.settle(session, ticket, now, None)
    return comment


async def link_interaction(
    session: AsyncSession, ticket: Ticket, interaction_id: int, at: tuple[str, ...] = ("input",)
) -> TicketInteraction:
    """Link a core interaction of the ticket's own customer (linking twice is refused)."""
    interaction = await session.get(InteractionRow, interaction_id)
    if interaction is None:
        raise fail("NOT_FOUND", "no such interaction", *at, "interactionId")
    if interaction.customer_id != ticket.customer_id:
        raise fail(
            "CUSTOMER_MISMATCH",
            "the interaction belongs to another customer than the ticket",
            *at,
            "interactionId",
        )
    linked = await session.scalar(
        select(TicketInteraction).where(
            TicketInteraction.ticket_id == ticket.id,
            TicketInteraction.interaction_id == interaction_id,
        )
    )
    if linked is not None:
        raise fail("DUPLICATE", "the interaction is linked already", *at, "interactionId")
    link = TicketInteraction(ticket_id=ticket.id, interaction_id=interaction_id)
    session.add(link)
    touch(ticket, clock.now())
    await session.flush()
    return link


# Who sees which ticket ---------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """A caller's reach over tickets for one permission: every ticket, or those of the
    customers owned by ``owners`` (the core's ownership scopes: a ticket is a row of its
    customer, so the same rule decides on every read and write)."""

    everything: bool
    owners: frozenset[str] = frozenset()

    def sees(self, customer_owner: str | None) -> bool:
        return self.everything or customer_owner in self.owners


def viewer(principal: Any, permission: str) -> Viewer:
    """``own``: tickets of the caller's customers; ``team``: of its teams' customers; ``all``."""
    if principal is None:
        return Viewer(True)
    scope = principal.scope(permission)
    if scope == "all":
        return Viewer(True)
    if scope is None:
        return Viewer(False)
    return Viewer(False, frozenset(principal.owners(scope) or ()))


# A ticket's owner is its customer's (the tickets:read scope selects tickets by it).
OWNER = select(CustomerRow.owner_id).where(CustomerRow.id == Ticket.customer_id).scalar_subquery()


def sla_clock() -> datetime:
    """The plugin's clock, read at each call (tests set it): what SLA filters compare with."""
    return clock.now()


def sla_condition(state: str, now: Any, soon: Any) -> Any:
    """The stored SLA state (:func:`sla.settle`: ``breached``, ``at_risk``, ``on_track``) as a
    condition (``soon``: the warning lead after ``now``): a deadline passed since the last
    settling counts as breached already; any other state matches nothing."""
    due = Ticket.sla_due_at
    if state == "breached":
        return or_(Ticket.sla_breached, due < now)
    if state == "at_risk":
        return and_(~Ticket.sla_breached, due >= now, due <= soon)
    if state == "on_track":
        return and_(~Ticket.sla_breached, due > soon)
    return Ticket.id.is_(None)


def tagged(tag: str) -> Any:
    """Ids of tickets holding ``tag`` (tags are a JSON list; matched on its text, quoted)."""
    return select(Ticket.id).where(cast(Ticket.tags, String).contains(f'"{tag}"'))


# Merge and erasure --------------------------------------------------------------------------


async def merge(session: AsyncSession, survivor_id: int, merged_ids: list[int]) -> dict[str, int]:
    """Move the merged customers' tickets (with their history and replies) to the survivor."""
    moved = await session.execute(
        update(Ticket).where(Ticket.customer_id.in_(merged_ids)).values(customer_id=survivor_id)
    )
    return {"service_tickets": moved.rowcount}


async def erase(session: AsyncSession, customer_id: int) -> None:
    """GDPR erasure: the customer's words go (subjects, descriptions, replies); the tickets stay,
    anonymised, for the service metrics."""
    tickets = select(Ticket.id).where(Ticket.customer_id == customer_id)
    await session.execute(
        update(TicketComment).where(TicketComment.ticket_id.in_(tickets)).values(body=ERASED)
    )
    await session.execute(
        update(Ticket)
        .where(Ticket.customer_id == customer_id)
        .values(subject=ERASED, description=ERASED, tags=[])
    )


async def export(session: AsyncSession, customer_id: int) -> list[dict[str, Any]]:
    """The customer's tickets with their replies and history, for the GDPR export."""
    tickets = list(
        await session.scalars(
            select(Ticket).where(Ticket.customer_id == customer_id).order_by(Ticket.id)
        )
    )
    ids = [t.id for t in tickets]
    comments = list(
        await session.scalars(
            select(TicketComment).where(TicketComment.ticket_id.in_(ids)).order_by(TicketComment.id)
        )
    )
    changes = list(
        await session.scalars(
            select(TicketStatusChange)
            .where(TicketStatusChange.ticket_id.in_(ids))
            .order_by(TicketStatusChange.id)
        )
    )
    return [
        {
            "subject": t.subject,
            "description": t.description,
            "channel": t.channel,
            "priority": lifecycle.PRIORITY_NAMES[t.priority],
            "status": t.status,
            "tags": t.tags,
            "createdAt": t.created_at.isoformat(),
            "comments": [
                {
                    "body": c.body,
                    "public": c.public,
                    "fromCustomer": c.from_customer,
                    "createdAt": c.created_at.isoformat(),
                }
                for c in comments
                if c.ticket_id == t.id
            ],
            "statusChanges": [
                {"from": s.from_status, "to": s.to_status, "at": s.at.isoformat()}
                for s in changes
                if s.ticket_id == t.id
            ],
        }
        for t in tickets
    ]
