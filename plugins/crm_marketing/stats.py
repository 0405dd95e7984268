"""Campaign statistics, counted from the send log (and, in time, tracking and orders)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_marketing import campaigns
from crm_marketing.tables import MarketingSend


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
            "suppressed": 0,
            "suppressed_no_consent": 0,
            "suppressed_on_list": 0,
            "suppressed_no_email": 0,
            "unsubscribed": 0,
        }
        for campaign_id in campaign_ids
    }
    rows = await session.execute(
        select(MarketingSend.campaign_id, MarketingSend.status, MarketingSend.reason, func.count())
        .where(MarketingSend.campaign_id.in_(list(campaign_ids)))
        .group_by(MarketingSend.campaign_id, MarketingSend.status, MarketingSend.reason)
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
    unsubscribed = await session.execute(
        select(MarketingSend.campaign_id, func.count())
        .where(
            MarketingSend.campaign_id.in_(list(campaign_ids)),
            MarketingSend.unsubscribed_at.is_not(None),
        )
        .group_by(MarketingSend.campaign_id)
    )
    for campaign_id, count in unsubscribed:
        counts[campaign_id]["unsubscribed"] = count
    return counts
