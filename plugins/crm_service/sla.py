"""SLA targets measured in business hours, and the notices they cause (Zendesk's SLA
policies, Salesforce's milestones).

A ticket's clock runs while it is NEW or OPEN and stops while it waits on the customer
(PENDING) or is RESOLVED or CLOSED; a reopen starts it again where it stopped. The first
response target is met by the first public agent reply; the resolution target by resolving
(a reopened ticket's resolution clock carries on). A target is breached once more business
time ran than it allows; its deadline is when that happens while the clock keeps running.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import emit
from crm_service import hours, lifecycle
from crm_service.models import BusinessCalendar, SlaNotice, SlaPolicy, Ticket, TicketStatusChange

FIRST_RESPONSE = "FIRST_RESPONSE"
RESOLUTION = "RESOLUTION"
TARGET_KEYS = {FIRST_RESPONSE: "firstResponse", RESOLUTION: "resolution"}
RUNNING = ("NEW", "OPEN")

Interval = tuple[datetime, datetime | None]


@dataclass(frozen=True)
class Target:
    """Where one target stands: its allowance, the business seconds used, its deadline (when
    the clock runs, or as it stood when the target completed; null while paused)."""

    name: str
    allowed: float
    used: float
    due_at: datetime | None
    done: bool
    running: bool

    @property
    def breached(self) -> bool:
        return self.used > self.allowed

    @property
    def remaining(self) -> float:
        return self.allowed - self.used


@dataclass(frozen=True)
class TicketSla:
    policy: SlaPolicy
    first_response: Target | None
    resolution: Target | None

    @property
    def targets(self) -> list[Target]:
        return [t for t in (self.first_response, self.resolution) if t is not None]

    @property
    def paused(self) -> bool:
        return any(not t.done and not t.running for t in self.targets)

    @property
    def next_due(self) -> datetime | None:
        """The earliest deadline of a target still running."""
        due = [t.due_at for t in self.targets if t.running and t.due_at is not None]
        return min(due) if due else None

    @property
    def remaining(self) -> float | None:
        """Business seconds left on the first unmet target still open (negative: overdue)."""
        open_targets = [t for t in self.targets if not t.done]
        return open_targets[0].remaining if open_targets else None


def calendar_of(row: BusinessCalendar) -> hours.Calendar:
    return hours.parse(row.time_zone, row.hours, row.holidays)


def running_intervals(changes: Sequence[TicketStatusChange], until: datetime) -> list[Interval]:
    """When the clock ran (NEW or OPEN), from the status history in order; the last interval
    is open (``None``) when it still runs. Nothing after ``until`` counts."""
    intervals: list[Interval] = []
    start: datetime | None = None
    for change in changes:
        if change.at > until:
            break
        if change.to_status in RUNNING and start is None:
            start = change.at
        elif change.to_status not in RUNNING and start is not None:
            intervals.append((start, change.at))
            start = None
    if start is not None:
        intervals.append((start, None))
    return intervals


def measure(
    name: str,
    calendar: hours.Calendar,
    allowed: float,
    intervals: list[Interval],
    now: datetime,
    stop: datetime | None,
    done: bool,
) -> Target:
    """One target over the clock's intervals; ``stop`` (a first reply) ends its clock there;
    ``done``: the target is complete (replied, resolved)."""
    if stop is not None:
        clipped: list[Interval] = []
        for a, b in intervals:
            if a >= stop:
                break
            clipped.append((a, stop if b is None or b > stop else b))
        intervals = clipped
    used = sum(hours.between(calendar, a, min(b or now, now)) for a, b in intervals)
    running = not done and bool(intervals) and intervals[-1][1] is None
    due, left = None, allowed
    for a, b in intervals:
        span = hours.between(calendar, a, b) if b is not None else None
        if span is None or span >= left:
            due = hours.add(calendar, a, left)
            break
        left -= span
    if due is None and done and intervals:  # met: the deadline as it stood then
        due = hours.add(calendar, intervals[-1][1] or now, left)
    return Target(name, allowed, used, due, done, running)


def evaluate(
    ticket: Ticket,
    policy: SlaPolicy,
    calendar: hours.Calendar,
    changes: Sequence[TicketStatusChange],
    now: datetime,
) -> TicketSla:
    """Where each target of ``policy`` for the ticket's priority stands at ``now``."""
    wanted = policy.targets.get(lifecycle.PRIORITY_NAMES[ticket.priority], {})
    intervals = running_intervals(changes, now)
    resolved = ticket.status in ("RESOLVED", "CLOSED")
    found: dict[str, Target | None] = {}
    for name, key in TARGET_KEYS.items():
        minutes = wanted.get(key)
        if minutes is None:
            found[name] = None
        elif name == FIRST_RESPONSE:
            stop = ticket.first_response_at
            found[name] = measure(
                name, calendar, minutes * 60.0, intervals, now, stop, stop is not None
            )
        else:
            found[name] = measure(name, calendar, minutes * 60.0, intervals, now, None, resolved)
    return TicketSla(policy, found[FIRST_RESPONSE], found[RESOLUTION])


# Reading what a ticket needs, and acting on it ----------------------------------------------


async def default_policy(session: AsyncSession) -> SlaPolicy | None:
    return await session.scalar(select(SlaPolicy).where(SlaPolicy.is_default))


async def of_ticket(session: AsyncSession, ticket: Ticket, now: datetime) -> TicketSla | None:
    """The ticket's SLA now (None without a policy), read in ``session``."""
    if ticket.sla_policy_id is None:
        return None
    policy = await session.get(SlaPolicy, ticket.sla_policy_id)
    calendar = await session.get(BusinessCalendar, policy.calendar_id) if policy else None
    if policy is None or calendar is None:
        return None
    changes = await session.scalars(
        select(TicketStatusChange)
        .where(TicketStatusChange.ticket_id == ticket.id)
        .order_by(TicketStatusChange.at, TicketStatusChange.id)
    )
    return evaluate(ticket, policy, calendar_of(calendar), list(changes), now)


async def settle(
    session: AsyncSession, ticket: Ticket, now: datetime, lead: timedelta | None
) -> list[str]:
    """Bring the ticket's stored SLA state up to ``now`` and announce what is due: a breach
    for a target past its allowance and, when ``lead`` is given (the scheduler's check), a
    warning for a running target within ``lead`` of its deadline. Each (target, kind) is
    announced once (a unique notice row, in this unit of work, with its event). Returns the
    events emitted."""
    await session.flush()
    state = await of_ticket(session, ticket, now)
    ticket.sla_due_at = state.next_due if state else None
    if state is None:
        return []
    known = set(
        (
            await session.execute(
                select(SlaNotice.target, SlaNotice.kind).where(SlaNotice.ticket_id == ticket.id)
            )
        ).all()
    )
    emitted = []
    for target in state.targets:
        due = []
        if target.breached:
            due.append("BREACHED")
        if (
            lead is not None
            and target.running
            and target.due_at is not None
            and target.due_at - lead <= now
            and not target.breached
        ):
            due.append("WARNING")
        for kind in due:
            if (target.name, kind) in known or target.due_at is None:
                continue
            session.add(
                SlaNotice(
                    ticket_id=ticket.id,
                    target=target.name,
                    kind=kind,
                    due_at=target.due_at,
                    noticed_at=now,
                )
            )
            event = "ticket.sla_breached" if kind == "BREACHED" else "ticket.sla_warning"
            await emit(session, event, "Ticket", ticket.id, _payload(ticket, state, target))
            emitted.append(event)
        if target.breached:
            ticket.sla_breached = True
    await session.flush()
    return emitted


def _payload(ticket: Ticket, state: TicketSla, target: Target) -> dict[str, Any]:
    return {
        **lifecycle.summary(ticket),
        "target": target.name,
        "dueAt": target.due_at.isoformat() if target.due_at else None,
        "policy": state.policy.name,
    }
