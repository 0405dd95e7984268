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

Where it is computed: every count is SQL, one statement grouped by period (created,
resolved, first responses, the backlog's changes, survey answers by rating band); CSAT and NPS
are those counts' ratios. The times and SLA attainment need each ticket's business-hours
calendar (a time zone, weekly hours, holidays) and its pauses, which SQL cannot apply on both
databases: they are computed here, from only the columns they need of the tickets answered or
resolved in the range (and those tickets' status changes), with their percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import and_, case, distinct, func, literal_column, select, union_all
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


def csat(satisfied: int, answers: int) -> float | None:
    """From the counts of answers 4-5 and of all answers."""
    return 100.0 * satisfied / answers if answers else None


def nps(promoters: int, detractors: int, answers: int) -> float | None:
    """From the counts of answers 9-10, 0-6 and of all answers (passives only in the last)."""
    return 100.0 * (promoters - detractors) / answers if answers else None


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


def _period_of(dialect: str, grouping: Grouping, column: Any) -> Any:
    """The key of the period (UTC) holding ``column``'s time, as text: the day
    (``YYYY-MM-DD``), the Monday of its ISO week, or the month (``YYYY-MM``)."""
    if dialect == "postgresql":
        utc = func.timezone(literal_column("'UTC'"), column)
        if grouping == "WEEK":
            utc = func.date_trunc(literal_column("'week'"), utc)
        shape = "'YYYY-MM'" if grouping == "MONTH" else "'YYYY-MM-DD'"
        return func.to_char(utc, literal_column(shape))
    # SQLite stores UTC times as text, YYYY-MM-DD HH:MM:SS.ffffff.
    if grouping == "DAY":
        return func.date(column)
    if grouping == "WEEK":  # the Monday on or before the day
        return func.date(column, literal_column("'-6 days'"), literal_column("'weekday 1'"))
    return func.strftime(literal_column("'%Y-%m'"), column)


def _key(first: date, grouping: Grouping) -> str:
    """:func:`_period_of`'s key for the period starting on ``first``."""
    if grouping == "WEEK":
        return (first - timedelta(days=first.weekday())).isoformat()
    return first.isoformat()[:7] if grouping == "MONTH" else first.isoformat()


def _of_team(statement: Any, team_id: int | None) -> Any:
    return statement if team_id is None else statement.where(Ticket.team_id == team_id)


def _counts(
    dialect: str, grouping: Grouping, since: datetime, until: datetime, team_id: int | None
) -> Any:
    """One statement: rows ``(metric, period, n, a, b, c)`` of every count the metrics need.

    - ``created`` / ``answered``: tickets created / first answered in the period;
    - ``resolved``: distinct tickets resolved in the period (a ticket resolved twice in it
      counts once);
    - ``backlog``: the change in unresolved tickets the period's status changes make (each
      change adds 1 when it enters NEW/OPEN/PENDING and takes 1 when it leaves them), and
      with period ``''`` the changes before ``since``: the backlog at a period's end is their
      running sum;
    - ``CSAT`` / ``NPS``: answers in the period; ``a`` of them 4-5 (CSAT) or 9-10 (NPS),
      ``b`` 0-6 (NPS detractors).
    """
    change = TicketStatusChange
    zero = literal_column("0")
    unresolved = lifecycle.UNRESOLVED

    def period(column: Any) -> Any:
        return _period_of(dialect, grouping, column).label("period")

    def within(column: Any) -> Any:
        return and_(column >= since, column < until)

    def grouped(statement: Any) -> Any:
        return statement.group_by(literal_column("period"))

    def of_changes(statement: Any) -> Any:
        if team_id is None:
            return statement
        return statement.join(Ticket, Ticket.id == change.ticket_id).where(
            Ticket.team_id == team_id
        )

    def label(name: str) -> Any:
        return literal_column(f"'{name}'").label("metric")

    created = select(label("created"), period(Ticket.created_at), func.count(), zero, zero, zero)
    answered = select(
        label("answered"), period(Ticket.first_response_at), func.count(), zero, zero, zero
    )
    resolved = select(
        label("resolved"),
        period(change.at),
        func.count(distinct(change.ticket_id)),
        zero,
        zero,
        zero,
    ).select_from(change)
    delta = case((change.to_status.in_(unresolved), 1), else_=0) - case(
        (change.from_status.in_(unresolved), 1), else_=0
    )
    moment = case(
        (change.at < since, literal_column("''")), else_=_period_of(dialect, grouping, change.at)
    )
    backlog = select(
        label("backlog"), moment.label("period"), func.sum(delta), zero, zero, zero
    ).select_from(change)
    rating = Survey.rating
    answers = select(
        Survey.kind.label("metric"),
        period(Survey.responded_at),
        func.count(),
        func.sum(case((rating >= 4, 1), else_=0)),
        func.sum(case((rating <= 6, 1), else_=0)),
        func.sum(case((rating >= 9, 1), else_=0)),
    ).where(within(Survey.responded_at))
    if team_id is not None:
        answers = answers.where(Survey.ticket_id.in_(_of_team(select(Ticket.id), team_id)))
    return union_all(
        grouped(_of_team(created.where(within(Ticket.created_at)), team_id)),
        grouped(_of_team(answered.where(within(Ticket.first_response_at)), team_id)),
        grouped(of_changes(resolved.where(change.to_status == "RESOLVED", within(change.at)))),
        grouped(of_changes(backlog.where(change.at < until))),
        answers.group_by(Survey.kind, literal_column("period")),
    )


@dataclass
class _Ticket:
    """What the times and SLA attainment read of a ticket: its row's ``priority``,
    ``status``, ``first_response_at`` and policy, its status changes (``at``, ``to_status``,
    in order) and the calendar its clock runs on."""

    row: Any
    changes: list[Any]
    calendar: hours.Calendar
    policy: SlaPolicy | None

    def clock_until(self, moment: datetime) -> float:
        """Business seconds the ticket's clock ran up to ``moment``."""
        intervals = sla.running_intervals(self.changes, moment)
        return sum(hours.between(self.calendar, a, min(b or moment, moment)) for a, b in intervals)


async def _timed(session: AsyncSession, ids: set[int], until: datetime) -> dict[int, _Ticket]:
    """The tickets ``ids`` with what their clocks need (changes before ``until`` only)."""
    if not ids:
        return {}
    wanted = sorted(ids)
    rows = await session.execute(
        select(
            Ticket.id,
            Ticket.priority,
            Ticket.status,
            Ticket.first_response_at,
            Ticket.sla_policy_id,
        ).where(Ticket.id.in_(wanted))
    )
    changes: dict[int, list[Any]] = {pk: [] for pk in wanted}
    found = await session.execute(
        select(TicketStatusChange.ticket_id, TicketStatusChange.at, TicketStatusChange.to_status)
        .where(TicketStatusChange.ticket_id.in_(wanted), TicketStatusChange.at < until)
        .order_by(TicketStatusChange.at, TicketStatusChange.id)
    )
    for change in found:
        changes[change.ticket_id].append(change)
    policies = {p.id: p for p in await session.scalars(select(SlaPolicy))}
    calendars = {c.id: sla.calendar_of(c) for c in await session.scalars(select(BusinessCalendar))}
    default = next((p for p in policies.values() if p.is_default), None)
    result = {}
    for row in rows:
        policy = policies.get(row.sla_policy_id) if row.sla_policy_id else None
        governing = policy or default
        calendar = calendars.get(governing.calendar_id) if governing else None
        result[row.id] = _Ticket(row, changes[row.id], calendar or ROUND_THE_CLOCK, policy)
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
    dialect = session.bind.dialect.name
    counts: dict[tuple[str, str], tuple[int, int, int, int]] = {}
    for metric, key, n, good, low, high in await session.execute(
        _counts(dialect, grouping, since, until, team_id)
    ):
        counts[metric, key] = (int(n), int(good), int(low), int(high))
    # The first replies and resolutions in the range, to time.
    answered = await session.execute(
        _of_team(
            select(Ticket.id, Ticket.first_response_at).where(
                Ticket.first_response_at >= since, Ticket.first_response_at < until
            ),
            team_id,
        )
    )
    first_replies = [(pk, moment) for pk, moment in answered]
    resolving = select(TicketStatusChange.ticket_id, TicketStatusChange.at).where(
        TicketStatusChange.to_status == "RESOLVED",
        TicketStatusChange.at >= since,
        TicketStatusChange.at < until,
    )
    if team_id is not None:
        resolving = resolving.where(
            TicketStatusChange.ticket_id.in_(_of_team(select(Ticket.id), team_id))
        )
    resolutions = [(pk, moment) for pk, moment in await session.execute(resolving)]
    timed = await _timed(session, {pk for pk, _ in first_replies + resolutions}, until)
    result = []
    backlog = counts.get(("backlog", ""), (0, 0, 0, 0))[0]
    for first, last in periods(start, end, grouping):
        key = _key(first, grouping)
        backlog += counts.get(("backlog", key), (0, 0, 0, 0))[0]
        a, b = _moment(first), _moment(last + timedelta(days=1))
        result.append(
            _period(first, last, a, b, key, counts, backlog, timed, first_replies, resolutions)
        )
    return result


def _period(
    first: date,
    last: date,
    a: datetime,
    b: datetime,
    key: str,
    counts: dict[tuple[str, str], tuple[int, int, int, int]],
    backlog: int,
    timed: dict[int, _Ticket],
    first_replies: list[tuple[int, datetime]],
    resolutions: list[tuple[int, datetime]],
) -> Period:
    def count(metric: str) -> tuple[int, int, int, int]:
        return counts.get((metric, key), (0, 0, 0, 0))

    first_times = [
        timed[pk].clock_until(moment) / 3600 for pk, moment in first_replies if a <= moment < b
    ]
    latest: dict[int, datetime] = {}  # each ticket resolved in the period, at its last resolution
    for pk, moment in resolutions:
        if a <= moment < b and (pk not in latest or moment > latest[pk]):
            latest[pk] = moment
    resolution_times = [timed[pk].clock_until(moment) / 3600 for pk, moment in latest.items()]
    met, targets = 0, 0
    for pk, moment in latest.items():
        ticket = timed[pk]
        if ticket.policy is None:
            continue
        state = sla.evaluate(ticket.row, ticket.policy, ticket.calendar, ticket.changes, moment)
        for target in state.targets:
            targets += 1
            met += not target.breached
    csat_n, csat_good, _, _ = count("CSAT")
    nps_n, _, detractors, promoters = count("NPS")
    return Period(
        start=first,
        end=last,
        created=count("created")[0],
        resolved=count("resolved")[0],
        backlog=backlog,
        first_response_median=percentile(first_times, 0.5),
        first_response_p90=percentile(first_times, 0.9),
        first_responses=count("answered")[0],
        resolution_median=percentile(resolution_times, 0.5),
        resolution_p90=percentile(resolution_times, 0.9),
        sla_attainment=100.0 * met / targets if targets else None,
        sla_targets=targets,
        csat=csat(csat_good, csat_n),
        csat_responses=csat_n,
        nps=nps(promoters, detractors, nps_n),
        nps_responses=nps_n,
    )
