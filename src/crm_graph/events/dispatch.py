"""From the log to webhook deliveries: the dispatcher, and the workers that send them.

The dispatcher follows the log with its own stored position and creates delivery rows in the
same transaction that advances it, so a crash can neither lose nor double a delivery. Workers
claim due deliveries (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, serialised writes on SQLite)
with a lease; a worker that dies mid-request loses its lease and another one tries again, so
delivery is at least once. Every attempt is logged.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crm_graph.db.engine import read_session, write_session
from crm_graph.db.models import utcnow
from crm_graph.events.loops import logger
from crm_graph.events.models import (
    EventConsumer,
    EventRecord,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from crm_graph.events.outbox import emit
from crm_graph.events.targets import UnsafeTarget, check_target
from crm_graph.schema.ids import to_global_id
from crm_graph.settings import Settings
from crm_graph.webhooks import sign

DISPATCHER = "webhooks"
DISPATCH_BATCH = 500
# Standard Webhooks: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
RETRY_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
DEAD_EVENT = "webhook.delivery_dead"
MAX_RESPONSE = 1000


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
            endpoints = list(
                await session.scalars(
                    select(WebhookEndpoint).where(WebhookEndpoint.status != "disabled")
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


@dataclass
class Job:
    """One claimed attempt: what to send where, and the rows to record the outcome in."""

    delivery_id: int
    attempt_id: int
    number: int
    webhook_id: int
    url: str
    secret: str
    event_uid: str
    event_type: str
    body: str


def body_of(event: EventRecord) -> str:
    return json.dumps(
        {
            "id": event.uid,
            "type": event.type,
            "timestamp": event.occurred_at.isoformat(),
            "entityType": event.entity_type,
            "entityId": event.entity_id,
            "actor": event.actor,
            "data": event.payload,
        },
        separators=(",", ":"),
    )


@dataclass
class Outcome:
    status_code: int | None = None
    latency_ms: int = 0
    response: str | None = None
    error: str | None = None
    retry_after: float | None = None


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return None


class Deliverer:
    """Claims due deliveries and sends them, ``settings.webhook_workers`` at a time."""

    def __init__(self, engine: AsyncEngine, settings: Settings, owner: str) -> None:
        self.engine, self.settings, self.owner = engine, settings, owner
        self.http = httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds, follow_redirects=False
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def step(self) -> None:
        while jobs := await self.claim(self.settings.webhook_workers):
            await asyncio.gather(*(self.run(job) for job in jobs))

    async def claim(self, limit: int) -> list[Job]:
        now = utcnow()
        if not await self._any_due(now):
            return []
        # Long enough for one attempt to time out and be recorded, with room to spare.
        lease = timedelta(seconds=self.settings.webhook_timeout_seconds * 2 + 1)
        jobs: list[Job] = []
        async with write_session(self.engine) as session:
            due = list(
                await session.scalars(
                    select(WebhookDelivery)
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.webhook_id)
                    .where(
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.next_attempt_at <= now,
                        or_(
                            WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now
                        ),
                        WebhookEndpoint.status == "active",
                    )
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True, of=WebhookDelivery)
                )
            )
            for delivery in due:
                job = await self._start_attempt(session, delivery, now, now + lease)
                if job is not None:
                    jobs.append(job)
        return jobs

    async def _any_due(self, now: datetime) -> bool:
        """A read-only look first, so an idle process never takes SQLite's write lock."""
        async with read_session(self.engine) as session:
            due = await session.scalar(
                select(WebhookDelivery.id)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.webhook_id)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                    or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
                    WebhookEndpoint.status == "active",
                )
                .limit(1)
            )
        return due is not None

    async def _start_attempt(
        self, session: AsyncSession, delivery: WebhookDelivery, now: datetime, lease_until: datetime
    ) -> Job | None:
        await session.execute(
            update(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery.id, WebhookAttempt.finished_at.is_(None))
            .values(finished_at=now, error="the worker stopped during the attempt (lease expired)")
        )
        event = await session.scalar(
            select(EventRecord).where(EventRecord.uid == delivery.event_uid)
        )
        endpoint = await session.get(WebhookEndpoint, delivery.webhook_id)
        if event is None or endpoint is None:
            delivery.status, delivery.last_error = "dead", "the event is no longer in the log"
            delivery.updated_at = now
            return None
        delivery.attempts += 1
        delivery.lease_owner, delivery.lease_until = self.owner, lease_until
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
            body=body_of(event),
        )

    async def run(self, job: Job) -> None:
        try:
            outcome = await self.send(job)
            await self.record(job, outcome)
        except Exception:
            logger.exception("webhook delivery %s failed unexpectedly", job.delivery_id)

    async def send(self, job: Job) -> Outcome:
        started = time.monotonic()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "crm-graph-webhooks",
            "webhook-id": job.event_uid,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(job.secret, job.event_uid, timestamp, job.body),
        }
        outcome = Outcome()
        try:
            await check_target(job.url, self.settings.webhook_allow_private_targets)
            response = await self.http.post(job.url, content=job.body, headers=headers)
            outcome.status_code = response.status_code
            outcome.response = response.text[:MAX_RESPONSE]
            if response.status_code == 429:
                outcome.retry_after = retry_after(response.headers.get("retry-after"))
        except UnsafeTarget as exc:
            outcome.error = str(exc)
        except httpx.TimeoutException:
            outcome.error = f"timed out after {self.settings.webhook_timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            outcome.error = f"{type(exc).__name__}: {exc}"[:MAX_RESPONSE]
        outcome.latency_ms = int((time.monotonic() - started) * 1000)
        return outcome

    def next_delay(self, attempts: int, outcome: Outcome) -> float:
        base = RETRY_SCHEDULE[attempts] * self.settings.webhook_retry_scale
        delay = base * random.uniform(0.9, 1.1)
        if outcome.retry_after is not None:
            delay = max(delay, outcome.retry_after)
        return delay

    async def record(self, job: Job, outcome: Outcome) -> None:
        now = utcnow()
        async with write_session(self.engine) as session:
            await session.execute(
                update(WebhookAttempt)
                .where(WebhookAttempt.id == job.attempt_id, WebhookAttempt.finished_at.is_(None))
                .values(
                    finished_at=now,
                    status_code=outcome.status_code,
                    latency_ms=outcome.latency_ms,
                    response_body=outcome.response,
                    error=outcome.error,
                )
            )
            delivery = await session.get(WebhookDelivery, job.delivery_id, with_for_update=True)
            if (
                delivery is None
                or delivery.lease_owner != self.owner
                or delivery.status != "pending"
            ):
                return  # our lease expired and another worker took over
            delivery.lease_owner = delivery.lease_until = None
            delivery.updated_at = now
            code = outcome.status_code
            if code is not None and 200 <= code < 300:
                delivery.status, delivery.last_error = "succeeded", None
                return
            delivery.last_error = outcome.error or f"HTTP {code}"
            if code == 410:
                await self._disable(session, job, now)
            elif delivery.attempts >= len(RETRY_SCHEDULE):
                await self._bury(session, delivery, job.event_type)
            else:
                delay = self.next_delay(delivery.attempts, outcome)
                delivery.next_attempt_at = now + timedelta(seconds=delay)

    async def _disable(self, session: AsyncSession, job: Job, now: datetime) -> None:
        """410 Gone: the receiver asks us to stop. Disable it; its pending deliveries die."""
        endpoint = await session.get(WebhookEndpoint, job.webhook_id)
        if endpoint is not None:
            endpoint.status = "disabled"
            endpoint.disabled_reason = "the receiver answered 410 Gone"
            endpoint.updated_at = now
        pending = await session.scalars(
            select(WebhookDelivery).where(
                WebhookDelivery.webhook_id == job.webhook_id, WebhookDelivery.status == "pending"
            )
        )
        for delivery in pending:
            delivery.last_error = delivery.last_error or "the webhook was disabled (410 Gone)"
            delivery.lease_owner = delivery.lease_until = None
            event_type = await session.scalar(
                select(EventRecord.type).where(EventRecord.uid == delivery.event_uid)
            )
            await self._bury(session, delivery, event_type)

    async def _bury(
        self, session: AsyncSession, delivery: WebhookDelivery, event_type: str | None
    ) -> None:
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
