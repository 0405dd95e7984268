"""What the service plugin tells the analytics plugin's churn model about each customer, as it
was at a cut-off (``crm_analytics_customer_features``): open tickets, tickets in the last 90
days, the last CSAT rating and SLA breaches. Only what was known at ``as_of`` counts."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select

from crm_graph.plugin import AppContext
from crm_service import lifecycle, sla
from crm_service.models import BusinessCalendar, SlaPolicy, Survey, Ticket, TicketStatusChange

RECENT = timedelta(days=90)


async def customer_features(
    app: AppContext, customer_ids: list[int], as_of: datetime
) -> dict[str, dict[int, float]]:
    wanted = set(customer_ids)
    async with app.read() as session:
        tickets = [
            t
            for t in await session.scalars(select(Ticket).where(Ticket.created_at <= as_of))
            if t.customer_id in wanted
        ]
        history: dict[int, list[TicketStatusChange]] = defaultdict(list)
        for change in await session.scalars(
            select(TicketStatusChange)
            .where(TicketStatusChange.at <= as_of)
            .order_by(TicketStatusChange.at, TicketStatusChange.id)
        ):
            history[change.ticket_id].append(change)
        policies = {p.id: p for p in await session.scalars(select(SlaPolicy))}
        calendars = {
            c.id: sla.calendar_of(c) for c in await session.scalars(select(BusinessCalendar))
        }
        ratings = await session.execute(
            select(Survey.customer_id, Survey.rating)
            .where(
                Survey.kind == "CSAT",
                Survey.responded_at.is_not(None),
                Survey.responded_at <= as_of,
            )
            .order_by(Survey.responded_at, Survey.id)
        )
        last_csat = {c: float(r) for c, r in ratings if c in wanted}
    open_tickets: dict[int, float] = defaultdict(float)
    recent: dict[int, float] = defaultdict(float)
    breaches: dict[int, float] = defaultdict(float)
    for ticket in tickets:
        changes = history.get(ticket.id, [])
        if changes and changes[-1].to_status in lifecycle.UNRESOLVED:
            open_tickets[ticket.customer_id] += 1
        if ticket.created_at > as_of - RECENT:
            recent[ticket.customer_id] += 1
        policy = policies.get(ticket.sla_policy_id) if ticket.sla_policy_id else None
        if policy is not None and policy.calendar_id in calendars:
            known = _as_of(ticket, changes[-1].to_status if changes else "NEW", as_of)
            state = sla.evaluate(known, policy, calendars[policy.calendar_id], changes, as_of)
            breaches[ticket.customer_id] += sum(t.breached for t in state.targets)
    return {
        "open_tickets": dict(open_tickets),
        "tickets_90d": dict(recent),
        "last_csat": last_csat,
        "sla_breaches": dict(breaches),
    }


def _as_of(ticket: Ticket, status: str, as_of: datetime) -> Ticket:
    """The ticket as it stood at ``as_of`` (a later first reply not yet made), unsaved."""
    first = ticket.first_response_at
    return Ticket(
        id=ticket.id,
        customer_id=ticket.customer_id,
        subject="",
        channel=ticket.channel,
        priority=ticket.priority,
        status=status,
        first_response_at=first if first is not None and first <= as_of else None,
    )
