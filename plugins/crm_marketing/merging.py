"""A customer merge: the merged customers' list memberships, send history and touches become
the survivor's, in the merge's transaction. Where both were recipients of one campaign, the
row of a message actually sent is kept over a suppressed one (the survivor's when both or
neither were sent), and the other's opens and clicks move onto it."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_marketing import segments
from crm_marketing.campaigns import SUPPRESSED
from crm_marketing.tables import MarketingSend, MarketingTouch


async def merge(session: AsyncSession, survivor_id: int, merged_ids: list[int]) -> dict[str, int]:
    moved = await segments.merge(session, survivor_id, merged_ids)
    kept = {
        send.campaign_id: send
        for send in await session.scalars(
            select(MarketingSend).where(MarketingSend.customer_id == survivor_id)
        )
    }
    sends = list(
        await session.scalars(
            select(MarketingSend).where(MarketingSend.customer_id.in_(merged_ids))
        )
    )
    for send in sends:
        other = kept.get(send.campaign_id)
        if other is not None and other.status == SUPPRESSED and send.status != SUPPRESSED:
            send, other = other, send  # keep the message that went out
        if other is None:
            kept[send.campaign_id] = send
        else:
            await session.execute(
                update(MarketingTouch)
                .where(MarketingTouch.send_id == send.id)
                .values(send_id=other.id)
            )
            await session.flush()
            await session.execute(delete(MarketingSend).where(MarketingSend.id == send.id))
            kept[send.campaign_id] = other
    for send in kept.values():
        if send.customer_id != survivor_id:
            await session.execute(
                update(MarketingSend)
                .where(MarketingSend.id == send.id)
                .values(customer_id=survivor_id)
            )
    await session.flush()
    touches = await session.execute(
        update(MarketingTouch)
        .where(MarketingTouch.customer_id.in_(merged_ids))
        .values(customer_id=survivor_id)
    )
    return {**moved, "marketing_sends": len(sends), "marketing_touches": touches.rowcount}
