"""The numbers a sales manager asks for: the weighted pipeline by period of expected close,
what was won (committed) by period of the win, win rate, average deal size and median cycle
time, overall and per owner, each amount per currency (never converted).

Definitions (Salesforce's forecast categories where they apply):

- **weighted**: an open deal's amount x its stage's win probability, in the period holding
  its expected close date; **pipeline**: the same deals unweighted. Open deals without a close
  date are counted apart (``undated``), in no period.
- **committed**: a won deal's amount, in the period holding the day it was won.
- **win rate**: won / (won + lost) among the deals closed (won or lost) between ``from`` and
  ``to``; **average deal size**: the mean amount of those won, per currency; **cycle time**:
  days from a won deal's creation to its win, the median over those won.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sales.scopes import Sight
from crm_sales.tables import LOST, OPEN, WON, SalesDeal, SalesStage

MONTH, QUARTER = "month", "quarter"
MAX_PERIODS = 120


def period_start(day: date, period: str) -> date:
    month = day.month if period == MONTH else 3 * ((day.month - 1) // 3) + 1
    return date(day.year, month, 1)


def next_start(start: date, period: str) -> date:
    months = 1 if period == MONTH else 3
    year, month = divmod(start.month - 1 + months, 12)
    return date(start.year + year, month + 1, 1)


Amounts = dict[str, Decimal]


def _add(amounts: Amounts, currency: str, amount: Decimal) -> None:
    amounts[currency] = amounts.get(currency, Decimal(0)) + amount


@dataclass
class Period:
    start: date
    end: date  # the last day
    weighted: Amounts = field(default_factory=dict)
    pipeline: Amounts = field(default_factory=dict)
    committed: Amounts = field(default_factory=dict)
    open_deals: int = 0
    won_deals: int = 0


@dataclass
class Figures:
    """Win rate, deal size and cycle time of one set of closed deals, and its pipeline."""

    weighted: Amounts = field(default_factory=dict)
    committed: Amounts = field(default_factory=dict)
    undated_weighted: Amounts = field(default_factory=dict)
    undated_deals: int = 0
    won: int = 0
    lost: int = 0
    won_amounts: dict[str, list[Decimal]] = field(default_factory=lambda: defaultdict(list))
    cycle_days: list[float] = field(default_factory=list)

    @property
    def win_rate(self) -> float | None:
        closed = self.won + self.lost
        return None if closed == 0 else self.won / closed

    @property
    def average_deal_size(self) -> Amounts:
        return {c: sum(a, Decimal(0)) / len(a) for c, a in sorted(self.won_amounts.items())}

    @property
    def median_cycle_days(self) -> float | None:
        return statistics.median(self.cycle_days) if self.cycle_days else None


@dataclass
class Forecast:
    periods: list[Period]
    overall: Figures
    owners: dict[str | None, Figures]


def _periods(start: date, end: date, period: str) -> list[Period]:
    out = []
    cursor = period_start(start, period)
    while cursor <= end:
        following = next_start(cursor, period)
        out.append(Period(cursor, following - timedelta(days=1)))
        cursor = following
    return out


async def forecast(
    session: AsyncSession,
    sight: Sight,
    start: date,
    end: date,
    period: str,
    owner_id: str | None = None,
    pipeline_id: int | None = None,
) -> Forecast:
    """The forecast of the deals ``sight`` sees (of one owner, one pipeline) from ``start`` to
    ``end`` (both days included)."""
    periods = _periods(start, end, period)
    statement = (
        select(SalesDeal, SalesStage.probability)
        .join(SalesStage, SalesStage.id == SalesDeal.stage_id)
        .where(
            sight.where(SalesDeal.owner_id),
            or_(
                SalesDeal.status == OPEN,
                and_(
                    SalesDeal.status.in_((WON, LOST)),
                    SalesDeal.closed_at >= datetime.combine(start, time.min, UTC),
                    SalesDeal.closed_at < datetime.combine(end + timedelta(days=1), time.min, UTC),
                ),
            ),
        )
    )
    if owner_id is not None:
        statement = statement.where(SalesDeal.owner_id == owner_id)
    if pipeline_id is not None:
        statement = statement.where(SalesDeal.pipeline_id == pipeline_id)
    overall, owners = Figures(), defaultdict(Figures)
    for deal, probability in await session.execute(statement):
        who = owners[deal.owner_id]
        if deal.status == OPEN:
            _count_open(deal, probability, periods, start, end, overall, who)
            continue
        closed_on = deal.closed_at.date()
        if not start <= closed_on <= end:
            continue
        for figures in (overall, who):
            if deal.status == LOST:
                figures.lost += 1
                continue
            figures.won += 1
            figures.won_amounts[deal.currency].append(deal.amount)
            _add(figures.committed, deal.currency, deal.amount)
            days = (deal.closed_at - deal.created_at).total_seconds() / 86400
            figures.cycle_days.append(days)
        if deal.status == WON:
            slot = _slot(periods, closed_on)
            _add(slot.committed, deal.currency, deal.amount)
            slot.won_deals += 1
    return Forecast(periods, overall, dict(owners))


def _slot(periods: list[Period], day: date) -> Period:
    return next(p for p in periods if p.start <= day <= p.end)


def _count_open(
    deal: SalesDeal,
    probability: int,
    periods: list[Period],
    start: date,
    end: date,
    overall: Figures,
    who: Figures,
) -> None:
    weighted = deal.amount * probability / 100
    if deal.expected_close_date is None:
        for figures in (overall, who):
            _add(figures.undated_weighted, deal.currency, weighted)
            figures.undated_deals += 1
        return
    if not start <= deal.expected_close_date <= end:
        return
    slot = _slot(periods, deal.expected_close_date)
    _add(slot.weighted, deal.currency, weighted)
    _add(slot.pipeline, deal.currency, deal.amount)
    slot.open_deals += 1
    for figures in (overall, who):
        _add(figures.weighted, deal.currency, weighted)
