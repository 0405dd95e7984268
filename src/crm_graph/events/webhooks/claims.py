"""Claiming a due delivery: taking it under a lease and starting its attempt.

Workers claim with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (serialised writes on SQLite) and a
lease; a worker that dies mid-request loses its lease and another one tries again. Its cut-short
attempt is closed and counts: when it was the last one, the delivery is dead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_graph.db.engine import SQLITE_BUSY_TIMEOUT_MS, read_session, write_session
from crm_graph.db.models import utcnow
from crm_graph.events.models import EventRecord, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from crm_graph.events.webhooks.outcomes import RETRY_SCHEDULE, STOPPED, bury, close_open_attempts
from crm_graph.events.webhooks.request import Job, body_of
from crm_graph.settings import Settings

# What a delivery of an event to an endpoint carries as ``data``: what the endpoint's creator
# may read of it now (given by the app; see crm_graph.auth.event_access).
Audience = Callable[[AsyncSession, WebhookEndpoint, EventRecord], Awaitable[Any]]


async def claim(
    engine: AsyncEngine, settings: Settings, owner: str, audience: Audience
) -> Job | None:
    """Take the next due delivery and start its attempt; None when nothing is due. (Only
    after :meth:`Deliverer.step` saw work with a read, so an idle process never takes
    SQLite's write lock.)"""
    lease = lease_length(settings)
    while True:
        async with write_session(engine) as session:
            await session.connection()  # the write lock first (SQLite queues here): then the time
            now = utcnow()
            due = await session.scalar(
                select(WebhookDelivery)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.webhook_id)
                .where(*due_now(now))
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(1)
                .with_for_update(skip_locked=True, of=WebhookDelivery)
            )
            if due is None:
                return None
            job = await _start_attempt(session, owner, audience, due, now, now + lease)
        if job is not None:  # else it was buried, not attempted: take the next one
            return job


def lease_length(settings: Settings) -> timedelta:
    """How long a claim holds its delivery: a live worker must always have recorded its outcome
    before then, or another worker would send the delivery again and the first one's outcome
    would be lost. The request may take the whole timeout, and recording it may then queue for
    SQLite's write lock, mostly at the busy handler, as long as the busy timeout (a longer
    wait there fails the record, and the attempt is rightly made again); a second to spare.
    (Behind this process's other writers it queues first, unbounded: a heavily loaded
    process can still outlast the lease, and the delivery is then sent again.)"""
    return timedelta(seconds=settings.webhook_timeout_seconds + SQLITE_BUSY_TIMEOUT_MS / 1000 + 1)


async def next_due(engine: AsyncEngine) -> datetime | None:
    """When the next pending delivery of an active endpoint falls due (its next attempt,
    or the end of a lease on it), None when nothing is pending: a read-only look, so an
    idle process never takes SQLite's write lock, and the deliverer sleeps until then."""
    lease_end = WebhookDelivery.lease_until
    due_at = case(
        (lease_end > WebhookDelivery.next_attempt_at, lease_end),
        else_=WebhookDelivery.next_attempt_at,
    )
    async with read_session(engine) as session:
        return await session.scalar(
            select(func.min(due_at))
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.status == "pending", WebhookEndpoint.status == "active")
        )


async def _start_attempt(
    session: AsyncSession,
    owner: str,
    audience: Audience,
    delivery: WebhookDelivery,
    now: datetime,
    lease_until: datetime,
) -> Job | None:
    await close_open_attempts(session, WebhookAttempt.delivery_id == delivery.id, now, STOPPED)
    event = await session.scalar(select(EventRecord).where(EventRecord.uid == delivery.event_uid))
    endpoint = await session.get(WebhookEndpoint, delivery.webhook_id)
    if event is None or endpoint is None:
        delivery.status, delivery.last_error = "dead", "the event is no longer in the log"
        delivery.updated_at = now
        return None
    if delivery.attempts >= len(RETRY_SCHEDULE):  # the last attempt's worker died
        delivery.last_error = STOPPED
        delivery.lease_owner = delivery.lease_until = None
        await bury(session, delivery, event.type)
        return None
    delivery.attempts += 1
    delivery.lease_owner, delivery.lease_until = owner, lease_until
    attempt = WebhookAttempt(delivery_id=delivery.id, number=delivery.attempts, started_at=now)
    session.add(attempt)
    await session.flush()
    return Job(
        delivery_id=delivery.id,  # type: ignore[arg-type]
        attempt_id=attempt.id,  # type: ignore[arg-type]
        number=delivery.attempts,
        webhook_id=endpoint.id,  # type: ignore[arg-type]
        url=endpoint.url,
        secret=endpoint.secret,
        event_uid=event.uid,
        event_type=event.type,
        body=body_of(event, await audience(session, endpoint, event)),
    )


def due_now(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Pending, its time has come, nobody holds a live lease on it, and its endpoint is active."""
    return (
        WebhookDelivery.status == "pending",
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
        WebhookEndpoint.status == "active",
    )
