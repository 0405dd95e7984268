"""Demo tickets for ``make demo``: an office calendar and a default SLA policy, tickets in every
status with replies and history dated before the demo's ``now``, and answered CSAT and NPS
surveys, drawn from the demo's seed (the same seed gives the same rows)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import func, select

from crm_graph.plugin import AppContext
from crm_service import lifecycle
from crm_service.models import (
    BusinessCalendar,
    SlaPolicy,
    Survey,
    Ticket,
    TicketComment,
    TicketStatusChange,
)

TICKETS = 60
SUBJECTS = (
    "Parcel never arrived",
    "Charged twice",
    "How do I change my address?",
    "Broken on arrival",
    "Refund still missing",
    "Cannot log in",
)
PATHS = {
    "NEW": ["NEW"],
    "OPEN": ["NEW", "OPEN"],
    "PENDING": ["NEW", "OPEN", "PENDING"],
    "RESOLVED": ["NEW", "OPEN", "RESOLVED"],
    "CLOSED": ["NEW", "OPEN", "PENDING", "OPEN", "RESOLVED", "CLOSED"],
}
TARGETS = {
    "URGENT": {"firstResponse": 60, "resolution": 240},
    "HIGH": {"firstResponse": 120, "resolution": 480},
    "NORMAL": {"firstResponse": 240, "resolution": 960},
    "LOW": {"firstResponse": 480, "resolution": 2400},
}


async def seed(app: AppContext, customer_ids: list[int], now: datetime, seed: int) -> str:
    async with app.write() as session:
        if await session.scalar(select(func.count()).select_from(Ticket)):
            return "tickets already seeded"
        policy = await session.scalar(select(SlaPolicy).where(SlaPolicy.is_default))
        if policy is None:
            calendar = BusinessCalendar(
                name="Office hours",
                time_zone="Europe/Berlin",
                hours={
                    day: ["09:00-17:00"]
                    for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")
                },
                holidays=[],
            )
            session.add(calendar)
            await session.flush()
            policy = SlaPolicy(
                name="Standard", calendar_id=calendar.id, targets=TARGETS, is_default=True
            )
            session.add(policy)
            await session.flush()
        draw = random.Random(seed)
        statuses = list(PATHS)
        surveys = 0
        for number in range(min(TICKETS, len(customer_ids))):
            status = statuses[number % len(statuses)]
            customer = draw.choice(customer_ids)
            opened = now - timedelta(days=draw.randint(1, 120), minutes=draw.randint(0, 600))
            ticket = Ticket(
                customer_id=customer,
                subject=draw.choice(SUBJECTS),
                description="Demo ticket.",
                channel=draw.choice(lifecycle.CHANNELS),
                priority=draw.randint(1, 4),
                status=status,
                tags=["demo"],
                created_at=opened,
                updated_at=opened,
                sla_policy_id=policy.id,
            )
            session.add(ticket)
            await session.flush()
            at, before = opened, None
            for step in PATHS[status]:
                at += timedelta(hours=draw.randint(1, 30)) if before else timedelta(0)
                session.add(
                    TicketStatusChange(
                        ticket_id=ticket.id, from_status=before, to_status=step, at=at
                    )
                )
                if step == "OPEN" and ticket.first_response_at is None:
                    ticket.first_response_at = at
                    session.add(
                        TicketComment(
                            ticket_id=ticket.id, body="We are looking into it.", created_at=at
                        )
                    )
                if step == "RESOLVED":
                    ticket.resolved_at = at
                if step == "CLOSED":
                    ticket.closed_at = at
                before = step
            ticket.updated_at = at
            if status in ("RESOLVED", "CLOSED"):
                session.add(
                    Survey(
                        kind="CSAT",
                        customer_id=customer,
                        ticket_id=ticket.id,
                        sent_at=at,
                        expires_at=at + timedelta(days=14),
                        token="",
                        rating=draw.choice((2, 3, 4, 4, 5, 5, 5)),
                        responded_at=at + timedelta(hours=draw.randint(1, 48)),
                    )
                )
                surveys += 1
        for customer in customer_ids[:20]:
            sent = now - timedelta(days=draw.randint(1, 60))
            session.add(
                Survey(
                    kind="NPS",
                    customer_id=customer,
                    sent_at=sent,
                    expires_at=sent + timedelta(days=14),
                    token="",
                    rating=draw.randint(0, 10),
                    responded_at=sent + timedelta(hours=draw.randint(1, 72)),
                )
            )
            surveys += 1
        count = min(TICKETS, len(customer_ids))
    return f"{count} tickets in every status, {surveys} survey answers"
