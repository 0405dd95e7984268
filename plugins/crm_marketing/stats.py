"""Campaign statistics: the send log's counts, opens and clicks, and the orders attributed to
each campaign with their revenue and the campaign's return on its cost.

Statistics are aggregates over the whole campaign, so they are read with table statements,
not ORM ones: a reader's ownership scope (which limits the customers and orders it may list)
does not make a campaign's totals differ from one reader to another.

Attribution is last touch, as Klaviyo's: an order (paid or fulfilled, so refunded, cancelled
and pending orders bring no revenue) placed within the window after the customer's last touch
(an open or a click of any campaign's message) before it belongs to that touch's campaign;
a later touch by another campaign takes the order over.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import OrderRow
from crm_marketing import abtest, campaigns, hygiene
from crm_marketing.filters import PURCHASED
from crm_marketing.tables import MarketingCampaign, MarketingSend, MarketingTouch

SENDS = MarketingSend.__table__.c  # type: ignore[attr-defined]
TOUCHES = MarketingTouch.__table__.c  # type: ignore[attr-defined]
ORDERS = OrderRow.__table__.c  # type: ignore[attr-defined]
CAMPAIGNS = MarketingCampaign.__table__.c  # type: ignore[attr-defined]


async def delivery(campaign_ids: Sequence[int], session: AsyncSession) -> dict[int, dict[str, Any]]:
    """Per campaign: recipients, their messages' fates, the suppressed by reason and the
    unsubscribed; two statements for any number of campaigns."""
    counts = {
        campaign_id: {
            "recipients": 0,
            "queued": 0,
            "sent": 0,
            "delivered": 0,
            "failed": 0,
            "in_doubt": 0,
            "bounced": 0,
            "suppressed": 0,
            "suppressed_no_consent": 0,
            "suppressed_on_list": 0,
            "suppressed_no_email": 0,
            "unsubscribed": 0,
            "opened": 0,
            "clicked": 0,
        }
        for campaign_id in campaign_ids
    }
    rows = await session.execute(
        select(SENDS.campaign_id, SENDS.status, SENDS.reason, func.count())
        .where(SENDS.campaign_id.in_(list(campaign_ids)))
        .group_by(SENDS.campaign_id, SENDS.status, SENDS.reason)
    )
    by_reason = {
        campaigns.NO_CONSENT: "suppressed_no_consent",
        campaigns.ON_SUPPRESSION_LIST: "suppressed_on_list",
        campaigns.NO_EMAIL: "suppressed_no_email",
    }
    for campaign_id, status, reason, count in rows:
        found = counts[campaign_id]
        found["recipients"] += count
        found[status] += count
        if status == campaigns.SUPPRESSED and reason in by_reason:
            found[by_reason[reason]] += count
        if status == "sent":
            found["delivered"] += count
        if status == hygiene.BOUNCED:  # accepted by the server, then bounced
            found["sent"] += count
    unsubscribed = await session.execute(
        select(SENDS.campaign_id, func.count())
        .where(SENDS.campaign_id.in_(list(campaign_ids)), SENDS.unsubscribed_at.is_not(None))
        .group_by(SENDS.campaign_id)
    )
    for campaign_id, count in unsubscribed:
        counts[campaign_id]["unsubscribed"] = count
    # A click is an open too (images are often blocked): opened counts either.
    for key, kinds in (("opened", ("open", "click")), ("clicked", ("click",))):
        touched = await session.execute(
            select(TOUCHES.campaign_id, func.count(distinct(TOUCHES.send_id)))
            .where(TOUCHES.campaign_id.in_(list(campaign_ids)), TOUCHES.kind.in_(kinds))
            .group_by(TOUCHES.campaign_id)
        )
        for campaign_id, count in touched:
            counts[campaign_id][key] = count
    return counts


@dataclass
class Returns:
    """What a campaign brought: attributed orders, revenue per currency, cost and ROI."""

    ordered: int = 0
    revenue: dict[str, Decimal] = field(default_factory=dict)
    orders_by_currency: dict[str, int] = field(default_factory=dict)
    cost: Decimal = Decimal(0)
    currency: str = ""
    customers: set[int] = field(default_factory=set)  # who placed an attributed order

    def roi(self, currency: str) -> float | None:
        """(revenue - cost) / cost in the cost's currency; None on a zero cost (not
        infinite) and for revenue in another currency (no conversion is made)."""
        if self.cost == 0 or currency != self.currency:
            return None
        return float((self.revenue.get(currency, Decimal(0)) - self.cost) / self.cost)


async def attribution(
    campaign_ids: Sequence[int], session: AsyncSession, window: timedelta
) -> dict[int, Returns]:
    """Each campaign's attributed orders (see the module's docstring); four statements."""
    found = {campaign_id: Returns() for campaign_id in campaign_ids}
    for campaign_id, cost, currency in await session.execute(
        select(CAMPAIGNS.id, CAMPAIGNS.cost, CAMPAIGNS.currency).where(
            CAMPAIGNS.id.in_(list(campaign_ids))
        )
    ):
        found[campaign_id].cost, found[campaign_id].currency = Decimal(cost), currency
    touched = select(TOUCHES.customer_id).where(TOUCHES.campaign_id.in_(list(campaign_ids)))
    touches: dict[int, list[tuple[Any, int]]] = {}
    for customer_id, campaign_id, at in await session.execute(
        select(TOUCHES.customer_id, TOUCHES.campaign_id, TOUCHES.occurred_at)
        .where(TOUCHES.customer_id.in_(touched))
        .order_by(TOUCHES.occurred_at, TOUCHES.id)
    ):
        touches.setdefault(customer_id, []).append((at, campaign_id))
    orders = await session.execute(
        select(ORDERS.customer_id, ORDERS.placed_at, ORDERS.total, ORDERS.currency).where(
            ORDERS.customer_id.in_(touched), ORDERS.status.in_(PURCHASED)
        )
    )
    for customer_id, placed_at, total, currency in orders:
        history = touches.get(customer_id, [])
        before = bisect.bisect_right([at for at, _ in history], placed_at)
        if not before:
            continue
        at, campaign_id = history[before - 1]
        returns = found.get(campaign_id)
        if returns is None or placed_at - at > window:
            continue
        returns.ordered += 1
        returns.customers.add(customer_id)
        returns.revenue[currency] = returns.revenue.get(currency, Decimal(0)) + Decimal(total)
        returns.orders_by_currency[currency] = returns.orders_by_currency.get(currency, 0) + 1
    return found


async def ab_tests(
    campaign_ids: Sequence[int], session: AsyncSession, returns: dict[int, Returns]
) -> dict[int, abtest.Verdict | None]:
    """Each A/B-tested campaign's verdict: recipients sent a message per variant, and how many
    of them converted (placed an order attributed to the campaign)."""
    found: dict[int, abtest.Verdict | None] = dict.fromkeys(campaign_ids)
    arms: dict[int, dict[str, list[int]]] = {}
    rows = await session.execute(
        select(SENDS.campaign_id, SENDS.variant, SENDS.customer_id).where(
            SENDS.campaign_id.in_(list(campaign_ids)),
            SENDS.variant.is_not(None),
            SENDS.status.not_in((campaigns.SUPPRESSED, campaigns.FAILED)),
        )
    )
    for campaign_id, variant, customer_id in rows:
        arms.setdefault(campaign_id, {abtest.A: [], abtest.B: []})[variant].append(customer_id)
    for campaign_id, by_variant in arms.items():
        converted = returns[campaign_id].customers
        a, b = (
            abtest.Arm(name, len(ids), sum(1 for c in ids if c in converted))
            for name, ids in sorted(by_variant.items())
        )
        found[campaign_id] = abtest.compare(a, b)
    return found
