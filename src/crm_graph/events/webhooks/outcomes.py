"""What an attempt's outcome does to its delivery: success, a retry on the schedule, a dead
delivery (announced in the log), or, on 410 Gone, a disabled endpoint.

Every attempt is logged, one cut short by its worker's death too (it counts: when it was the
last one, the delivery is dead).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_graph.db.engine import write_session
from crm_graph.db.models import utcnow
from crm_graph.events.models import EventRecord, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from crm_graph.events.outbox import emit
from crm_graph.events.webhooks.request import Job, Outcome
from crm_graph.ids import to_global_id
from crm_graph.settings import Settings

# Standard Webhooks: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
RETRY_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
DEAD_EVENT = "webhook.delivery_dead"
STOPPED = "the worker stopped during the attempt (lease expired)"
CUT_SHORT = "the webhook was disabled (410 Gone) before this attempt finished"


def next_delay(settings: Settings, attempts: int, outcome: Outcome) -> float:
    base = RETRY_SCHEDULE[attempts] * settings.webhook_retry_scale
    delay = base * random.uniform(0.9, 1.1)
    if outcome.retry_after is not None:
        delay = max(delay, outcome.retry_after)
    return delay


async def record(engine: AsyncEngine, settings: Settings, job: Job, outcome: Outcome) -> None:
    """Log the attempt and move its delivery on, unless another claim took the delivery since
    (its latest attempt is no longer this one)."""
    now = utcnow()
    async with write_session(engine) as session:
        # What really happened replaces a presumption written meanwhile (STOPPED, CUT_SHORT).
        await session.execute(
            update(WebhookAttempt)
            .where(WebhookAttempt.id == job.attempt_id)
            .values(
                finished_at=now,
                status_code=outcome.status_code,
                latency_ms=outcome.latency_ms,
                response_body=outcome.response,
                error=outcome.error,
            )
        )
        delivery = await session.get(WebhookDelivery, job.delivery_id, with_for_update=True)
        if delivery is None or delivery.status != "pending" or delivery.attempts != job.number:
            return  # our lease expired and another worker, of any process, took over
        delivery.lease_owner = delivery.lease_until = None
        delivery.updated_at = now
        code = outcome.status_code
        if code is not None and 200 <= code < 300:
            delivery.status, delivery.last_error = "succeeded", None
            return
        delivery.last_error = outcome.error or f"HTTP {code}"
        if code == 410:
            await _disable(session, job, now)
        elif delivery.attempts >= len(RETRY_SCHEDULE):
            await bury(session, delivery, job.event_type)
        else:
            delay = next_delay(settings, delivery.attempts, outcome)
            delivery.next_attempt_at = now + timedelta(seconds=delay)


async def _disable(session: AsyncSession, job: Job, now: datetime) -> None:
    """410 Gone: the receiver asks us to stop. Disable it; its pending deliveries die.

    Their attempts still running are closed here, as nobody would close them if their
    worker died; a worker that is alive records its real outcome over that note. (The
    dispatcher holds a share lock on the endpoints it reads, so it cannot add a delivery
    to this endpoint behind our back.)
    """
    endpoint = await session.get(WebhookEndpoint, job.webhook_id)
    if endpoint is not None:
        endpoint.status = "disabled"
        endpoint.disabled_reason = "the receiver answered 410 Gone"
        endpoint.updated_at = now
    of_endpoint = (
        WebhookDelivery.webhook_id == job.webhook_id,
        WebhookDelivery.status == "pending",
    )
    # The lock waits for claims in flight, so their new attempts are closed below too.
    pending = await session.scalars(select(WebhookDelivery).where(*of_endpoint).with_for_update())
    running = WebhookAttempt.delivery_id.in_(select(WebhookDelivery.id).where(*of_endpoint))
    await close_open_attempts(session, running, now, CUT_SHORT)
    for delivery in pending:
        delivery.last_error = delivery.last_error or "the webhook was disabled (410 Gone)"
        delivery.lease_owner = delivery.lease_until = None
        event_type = await session.scalar(
            select(EventRecord.type).where(EventRecord.uid == delivery.event_uid)
        )
        await bury(session, delivery, event_type)


async def bury(session: AsyncSession, delivery: WebhookDelivery, event_type: str | None) -> None:
    """Mark the delivery dead and say so in the log (never about a dead-letter event)."""
    delivery.status = "dead"
    delivery.updated_at = utcnow()
    if event_type == DEAD_EVENT:
        return
    await emit(
        session,
        DEAD_EVENT,
        "Webhook",
        delivery.webhook_id,
        {
            "webhookId": to_global_id("Webhook", delivery.webhook_id),
            "deliveryId": to_global_id("WebhookDelivery", delivery.id),  # type: ignore[arg-type]
            "eventId": delivery.event_uid,
            "eventType": event_type,
            "attempts": delivery.attempts,
            "lastError": delivery.last_error,
        },
    )


async def close_open_attempts(
    session: AsyncSession, which: ColumnElement[bool], now: datetime, error: str
) -> None:
    """End the unfinished attempts among ``which``, saying why with ``error``."""
    await session.execute(
        update(WebhookAttempt)
        .where(which, WebhookAttempt.finished_at.is_(None))
        .values(finished_at=now, error=error)
    )
