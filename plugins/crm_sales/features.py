"""What the sales plugin tells the analytics plugin's churn model about each customer
(``crm_analytics_customer_features``), as it stood at the cut-off ``as_of``:

- ``open_deal_value``: the amounts of the deals open at ``as_of`` (created before it, not
  closed by then), in the core's default currency only (other currencies are not converted);
- ``deals_lost_90d``: deals lost in the 90 days up to ``as_of``;
- ``days_since_sales_activity``: days since the latest deal creation or stage change, or
  completed task, about the customer up to ``as_of``; customers without any are left out
  (0, by the hook's contract: the model learns "no sales activity" from the other two).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from crm_graph.plugin import AppContext
from crm_sales.tables import SalesDeal, SalesDealStageChange, SalesTask

LOST_WINDOW = timedelta(days=90)


async def customer_features(
    app: AppContext, customer_ids: list[int], as_of: datetime
) -> dict[str, dict[int, float]]:
    wanted = set(customer_ids)
    currency = app.settings.default_currency
    open_value: dict[int, float] = defaultdict(float)
    lost: dict[int, float] = defaultdict(float)
    latest: dict[int, datetime] = {}
    async with app.read() as session:
        deals = await session.execute(
            select(
                SalesDeal.customer_id,
                SalesDeal.amount,
                SalesDeal.currency,
                SalesDeal.status,
                SalesDeal.closed_at,
            ).where(
                SalesDeal.created_at <= as_of,
                or_(SalesDeal.closed_at.is_(None), SalesDeal.closed_at > as_of - LOST_WINDOW),
            )
        )
        for customer_id, amount, deal_currency, status, closed_at in deals:
            if customer_id not in wanted:
                continue
            if (closed_at is None or closed_at > as_of) and deal_currency == currency:
                open_value[customer_id] += float(amount)
            elif status == "lost" and closed_at is not None and closed_at <= as_of:
                lost[customer_id] += 1
        moves = await session.execute(
            select(SalesDeal.customer_id, func.max(SalesDealStageChange.changed_at))
            .join(SalesDeal, SalesDeal.id == SalesDealStageChange.deal_id)
            .where(SalesDealStageChange.changed_at <= as_of)
            .group_by(SalesDeal.customer_id)
        )
        tasks = await session.execute(
            select(SalesTask.about_customer_id, func.max(SalesTask.done_at))
            .where(SalesTask.done_at <= as_of, SalesTask.about_customer_id.is_not(None))
            .group_by(SalesTask.about_customer_id)
        )
        for customer_id, moment in [*moves, *tasks]:
            if customer_id in wanted and moment is not None:
                latest[customer_id] = max(latest.get(customer_id, moment), moment)
    return {
        "open_deal_value": dict(open_value),
        "deals_lost_90d": dict(lost),
        "days_since_sales_activity": {
            c: (as_of - moment).total_seconds() / 86400 for c, moment in latest.items()
        },
    }
