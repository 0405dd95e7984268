"""The dispatcher: from the log to delivery rows, one per event and interested endpoint.

It follows the log with its own stored position and creates delivery rows in the same
transaction that advances it, so a crash can neither lose nor double a delivery.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_graph.db.engine import read_session, write_session
from crm_graph.db.models import utcnow
from crm_graph.events.models import EventConsumer, EventRecord, WebhookDelivery, WebhookEndpoint

DISPATCHER = "webhooks"
DISPATCH_BATCH = 500


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    """An endpoint without types gets everything but webhook.* (so a failing one cannot feed
    itself news of its own failures)."""
    if endpoint.event_types:
        return event_type in endpoint.event_types
    return not event_type.startswith("webhook.")


async def ensure_dispatcher(engine: AsyncEngine, start: int) -> None:
    """Create the dispatcher's position on first start (it does not replay history)."""
    try:
        async with write_session(engine) as session:
            if await session.get(EventConsumer, DISPATCHER) is None:
                session.add(EventConsumer(name=DISPATCHER, position=start))
    except IntegrityError:  # another process created it first
        pass


async def _work_from(engine: AsyncEngine) -> int | None:
    """Where dispatching must start, or None when there is nothing to do (read-only, so idle
    processes never take SQLite's write lock). Events before every endpoint's start need no
    deliveries, so the position may jump ahead to the earliest start."""
    async with read_session(engine) as session:
        floor = await session.scalar(
            select(func.min(WebhookEndpoint.start_position)).where(
                WebhookEndpoint.status != "disabled"
            )
        )
        position = await session.scalar(
            select(EventConsumer.position).where(EventConsumer.name == DISPATCHER)
        )
        if floor is None or position is None:
            return None
        start = max(position, floor)
        newer = await session.scalar(
            select(EventRecord.position).where(EventRecord.position > start).limit(1)
        )
    return None if newer is None else start


async def dispatch(engine: AsyncEngine) -> int:
    """Turn the events after the dispatcher's position into deliveries; how many were made."""
    made = 0
    start = await _work_from(engine)
    while start is not None:
        async with write_session(engine) as session:
            consumer = await session.scalar(
                select(EventConsumer)
                .where(EventConsumer.name == DISPATCHER)
                .with_for_update(skip_locked=True)
            )
            if consumer is None:  # another process is dispatching right now
                return made
            start = max(start, consumer.position)
            rows = list(
                await session.scalars(
                    select(EventRecord)
                    .where(EventRecord.position > start)
                    .order_by(EventRecord.position)
                    .limit(DISPATCH_BATCH)
                )
            )
            if not rows:
                return made
            # FOR SHARE: a 410 disabling an endpoint waits for these deliveries, and buries
            # them; or, disabled first, the endpoint is not read here.
            endpoints = list(
                await session.scalars(
                    select(WebhookEndpoint)
                    .where(WebhookEndpoint.status != "disabled")
                    .with_for_update(read=True)
                )
            )
            for row in rows:
                for endpoint in endpoints:
                    if row.position > endpoint.start_position and wants(endpoint, row.type):
                        session.add(WebhookDelivery(webhook_id=endpoint.id, event_uid=row.uid))
                        made += 1
            consumer.position = rows[-1].position  # type: ignore[assignment]
            consumer.updated_at = utcnow()
        if len(rows) < DISPATCH_BATCH:
            return made
        start = consumer.position
    return made
