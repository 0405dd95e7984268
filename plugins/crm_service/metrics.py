"""The numbers a service manager asks for, per day, week or month: tickets created, resolved
and still open, first-response and resolution times in business hours (median and 90th
percentile), SLA attainment, CSAT and NPS. No GraphQL here.

The textbook formulas, stated once:

- **CSAT** = the share of ratings 4 or 5 among the CSAT answers of the period, in percent;
- **NPS** = percent promoters (9-10) minus percent detractors (0-6) among the NPS answers of
  the period; passives (7-8) count only in the total;
- both are ``None`` (not 0) for a period without answers;
- percentiles interpolate linearly between ranks (numpy's default, Excel's PERCENTILE.INC):
  the median of 1, 2, 3, 10 is 2.5 and its 90th percentile 7.9.

Times run on the ticket's SLA clock: business hours of its policy's calendar (the default
policy's when it has none; round-the-clock UTC without any), stopped while PENDING.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_service import hours, lifecycle, sla
from crm_service.models import BusinessCalendar, SlaPolicy, Survey, Ticket, TicketStatusChange

Grouping = Literal["DAY", "WEEK", "MONTH"]
ROUND_THE_CLOCK = hours.Calendar("UTC", {day: [(0, 1440)] for day in range(7)})


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    created: int
    resolved: int
    backlog: int
    first_response_median: float | None
    first_response_p90: float | None
    first_responses: int
    resolution_median: float | None
    resolution_p90: float | None
    sla_attainment: float | None
    sla_targets: int
    csat: float | None
    csat_responses: int
    nps: float | None
    nps_responses: int


def percentile(values: Sequence[float], share: float) -> float | None:
    """Linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = share * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def csat(ratings: Sequence[int]) -> float | None:
    if not ratings:
        return None
    return 100.0 * sum(1 for r in ratings if r >= 4) / len(ratings)


def nps(ratings: Sequence[int]) -> float | None:
    if not ratings:
        return None
    promoters = sum(1 for r in ratings if r >= 9)
    detractors = sum(1 for r in ratings if r <= 6)
    return 100.0 * (promoters - detractors) / len(ratings)


def periods(start: date, end: date, grouping: Grouping) -> list[tuple[date, date]]:
    """``[start, end]`` cut into days, ISO weeks (Monday first) or months, clipped to it."""
    cuts = []
    current = start
    while current <= end:
        if grouping == "DAY":
            last = current
        elif grouping == "WEEK":
            last = current + timedelta(days=6 - current.weekday())
        else:
            following = date(current.year + current.month // 12, current.month % 12 + 1, 1)
            last = following - timedelta(days=1)
        last = min(last, end)
        cuts.append((current, last))
        current = last + timedelta(days=1)
    return cuts


def _moment(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


@dataclass
class _Ticket:
    row: Ticket
    changes: list[TicketStatusChange]
    calendar: hours.Calendar
    policy: SlaPolicy | None

    def status_at(self, moment: datetime) -> str | None:
        status = None
        for change in self.changes:
            if change.at >= moment:
                break
            status = change.to_status
        return status

    def resolutions(self) -> list[datetime]:
        return [c.at for c in self.changes if c.to_status == "RESOLVED"]

    def clock_until(self, moment: datetime) -> float:
        """Business seconds the ticket's clock ran up to ``moment``."""
        intervals = sla.running_intervals(self.changes, moment)
        return sum(hours.between(self.calendar, a, min(b or moment, moment)) for a, b in intervals)


def _of_team(statement: Any, team_id: int | None) -> Any:
    return statement if team_id is None else statement.where(Ticket.team_id == team_id)


async def _tickets(
    session: AsyncSession, since: datetime, until: datetime, team_id: int | None
) -> list[_Ticket]:
    """The tickets that can count in ``[since, until)``: unresolved now, or created, answered
    or moved since ``since``. Any other ticket was resolved or closed before ``since`` and
    stayed so: in no period's counts, times or backlog (surveys are counted apart)."""
    moved = select(TicketStatusChange.ticket_id).where(TicketStatusChange.at >= since)
    statement = select(Ticket).where(
        Ticket.created_at < until,
        or_(
            Ticket.status.in_(lifecycle.UNRESOLVED),
            Ticket.created_at >= since,
            Ticket.first_response_at >= since,
            Ticket.id.in_(moved),
        ),
    )
    statement = _of_team(statement, team_id)
    rows = list(await session.scalars(statement.order_by(Ticket.id)))
    changes: dict[int, list[TicketStatusChange]] = {row.id: [] for row in rows}
    found = await session.scalars(
        select(TicketStatusChange)
        .where(TicketStatusChange.ticket_id.in_(list(changes)))
        .order_by(TicketStatusChange.at, TicketStatusChange.id)
    )
    for change in found:
        changes[change.ticket_id].append(change)
    policies = {p.id: p for p in await session.scalars(select(SlaPolicy))}
    calendars = {c.id: sla.calendar_of(c) for c in await session.scalars(select(BusinessCalendar))}
    default = next((p for p in policies.values() if p.is_default), None)
    result = []
    for row in rows:
        policy = policies.get(row.sla_policy_id) if row.sla_policy_id else None
        governing = policy or default
        calendar = calendars.get(governing.calendar_id) if governing else None
        result.append(_Ticket(row, changes[row.id], calendar or ROUND_THE_CLOCK, policy))
    return result


async def service_metrics(
    session: AsyncSession,
    start: date,
    end: date,
    grouping: Grouping,
    team_id: int | None = None,
) -> list[Period]:
    """The metrics of each period of ``[start, end]`` (UTC dates, both included)."""
    since, until = _moment(start), _moment(end + timedelta(days=1))
    tickets = await _tickets(session, since, until, team_id)
    survey_query = select(Survey).where(
        Survey.responded_at.is_not(None),
        Survey.responded_at >= since,
        Survey.responded_at < until,
    )
    if team_id is not None:
        survey_query = survey_query.where(
            Survey.ticket_id.in_(_of_team(select(Ticket.id), team_id))
        )
    answers = list(await session.scalars(survey_query))
    result = []
    for first, last in periods(start, end, grouping):
        a, b = _moment(first), _moment(last + timedelta(days=1))
        result.append(_period(first, last, a, b, tickets, answers))
    return result


def _period(
    first: date,
    last: date,
    a: datetime,
    b: datetime,
    tickets: list[_Ticket],
    answers: list[Survey],
) -> Period:
    created = [t for t in tickets if a <= t.row.created_at < b]
    resolved = [
        (t, max(r for r in t.resolutions() if a <= r < b))
        for t in tickets
        if any(a <= r < b for r in t.resolutions())
    ]
    backlog = [t for t in tickets if t.status_at(b) in lifecycle.UNRESOLVED]
    responded = [t for t in tickets if t.row.first_response_at and a <= t.row.first_response_at < b]
    first_times = [
        t.clock_until(t.row.first_response_at) / 3600
        for t in responded  # type: ignore[arg-type]
    ]
    resolution_times = [t.clock_until(moment) / 3600 for t, moment in resolved]
    met, targets = 0, 0
    for ticket, moment in resolved:
        if ticket.policy is None:
            continue
        state = sla.evaluate(ticket.row, ticket.policy, ticket.calendar, ticket.changes, moment)
        for target in state.targets:
            targets += 1
            met += not target.breached
    in_period = [s for s in answers if a <= s.responded_at < b]  # type: ignore[operator]
    csat_ratings = [s.rating for s in in_period if s.kind == "CSAT"]
    nps_ratings = [s.rating for s in in_period if s.kind == "NPS"]
    return Period(
        start=first,
        end=last,
        created=len(created),
        resolved=len(resolved),
        backlog=len(backlog),
        first_response_median=percentile(first_times, 0.5),
        first_response_p90=percentile(first_times, 0.9),
        first_responses=len(first_times),
        resolution_median=percentile(resolution_times, 0.5),
        resolution_p90=percentile(resolution_times, 0.9),
        sla_attainment=100.0 * met / targets if targets else None,
        sla_targets=targets,
        csat=csat(csat_ratings),  # type: ignore[arg-type]
        csat_responses=len(csat_ratings),
        nps=nps(nps_ratings),  # type: ignore[arg-type]
        nps_responses=len(nps_ratings),
    )
