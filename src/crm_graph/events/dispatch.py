"""From the log to webhook deliveries: the dispatcher, and the workers that send them.

The dispatcher follows the log with its own stored position and creates delivery rows in the
same transaction that advances it, so a crash can neither lose nor double a delivery. Workers
claim due deliveries (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, serialised writes on SQLite)
with a lease; a worker that dies mid-request loses its lease and another one tries again, so
delivery is at least once. Every attempt is logged, one cut short by its worker's death too
(it counts: when it was the last one, the delivery is dead).
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
from sqlalchemy import ColumnElement, func, or_, select, update
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
from crm_graph.ids import to_global_id
from crm_graph.settings import Settings
from crm_graph.webhooks import sign

DISPATCHER = "webhooks"
DISPATCH_BATCH = 500
# Standard Webhooks: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
RETRY_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
DEAD_EVENT = "webhook.delivery_dead"
MAX_RESPONSE = 1000
STOPPED = "the worker stopped during the attempt (lease expired)"
CUT_SHORT = "the webhook was disabled (410 Gone) before this attempt finished"


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


async def response_head(response: httpx.Response) -> str:
    """The first ``MAX_RESPONSE`` characters of an answer, reading no more than that: a
    receiver must not make a worker hold (or wait for) an endless body."""
    kept = bytearray()
    async for chunk in response.aiter_raw():
        kept += chunk
        if len(kept) >= MAX_RESPONSE * 4:  # a character is at most 4 bytes of UTF-8
            break
    return kept.decode("utf-8", errors="replace")[:MAX_RESPONSE]


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
        """Work until nothing is due. Each worker claims its next delivery as soon as it is
        free, so a slow receiver holds up one worker, not a batch of them."""
        if not await self._any_due(utcnow()):
            return
        async with asyncio.TaskGroup() as workers:
            for _ in range(self.settings.webhook_workers):
                workers.create_task(self._work())

    async def _work(self) -> None:
        try:
            while job := await self.claim():
                await self.run(job)
        except Exception:  # logged here: raising would cancel the others' requests mid-way
            logger.exception("claiming a webhook delivery failed")

    async def claim(self) -> Job | None:
        """Take the next due delivery and start its attempt; None when nothing is due. (Only
        after :meth:`step` saw work with a read, so an idle process never takes SQLite's write
        lock.)"""
        # Long enough for one attempt to time out and be recorded, with room to spare.
        lease = timedelta(seconds=self.settings.webhook_timeout_seconds * 2 + 1)
        while True:
            now = utcnow()
            async with write_session(self.engine) as session:
                due = await session.scalar(
                    select(WebhookDelivery)
                    .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.webhook_id)
                    .where(*_due(now))
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                    .limit(1)
                    .with_for_update(skip_locked=True, of=WebhookDelivery)
                )
                if due is None:
                    return None
                job = await self._start_attempt(session, due, now, now + lease)
            if job is not None:  # else it was buried, not attempted: take the next one
                return job

    async def _any_due(self, now: datetime) -> bool:
        """A read-only look, so an idle process never takes SQLite's write lock."""
        async with read_session(self.engine) as session:
            due = await session.scalar(
                select(WebhookDelivery.id)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.webhook_id)
                .where(*_due(now))
                .limit(1)
            )
        return due is not None

    async def _start_attempt(
        self, session: AsyncSession, delivery: WebhookDelivery, now: datetime, lease_until: datetime
    ) -> Job | None:
        await _close_open_attempts(session, WebhookAttempt.delivery_id == delivery.id, now, STOPPED)
        event = await session.scalar(
            select(EventRecord).where(EventRecord.uid == delivery.event_uid)
        )
        endpoint = await session.get(WebhookEndpoint, delivery.webhook_id)
        if event is None or endpoint is None:
            delivery.status, delivery.last_error = "dead", "the event is no longer in the log"
            delivery.updated_at = now
            return None
        if delivery.attempts >= len(RETRY_SCHEDULE):  # the last attempt's worker died
            delivery.last_error = STOPPED
            delivery.lease_owner = delivery.lease_until = None
            await self._bury(session, delivery, event.type)
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
            "accept-encoding": "identity",  # the logged head of the answer stays readable
            "user-agent": "crm-graph-webhooks",
            "webhook-id": job.event_uid,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(job.secret, job.event_uid, timestamp, job.body),
        }
        outcome = Outcome()
        try:
            await check_target(job.url, self.settings.webhook_allow_private_targets)
            # One deadline for the whole exchange: httpx's own timeouts are per read, so a
            # receiver dripping a byte at a time would otherwise hold a worker forever.
            async with (
                asyncio.timeout(self.settings.webhook_timeout_seconds),
                self.http.stream("POST", job.url, content=job.body, headers=headers) as response,
            ):
                outcome.status_code = response.status_code
                outcome.response = await response_head(response)
                if response.status_code == 429:
                    outcome.retry_after = retry_after(response.headers.get("retry-after"))
        except UnsafeTarget as exc:
            outcome.error = str(exc)
        except (httpx.TimeoutException, TimeoutError):
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
        pending = await session.scalars(
            select(WebhookDelivery).where(*of_endpoint).with_for_update()
        )
        running = WebhookAttempt.delivery_id.in_(select(WebhookDelivery.id).where(*of_endpoint))
        await _close_open_attempts(session, running, now, CUT_SHORT)
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


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Pending, its time has come, nobody holds a live lease on it, and its endpoint is active."""
    return (
        WebhookDelivery.status == "pending",
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
        WebhookEndpoint.status == "active",
    )


async def _close_open_attempts(
    session: AsyncSession, which: ColumnElement[bool], now: datetime, error: str
) -> None:
    """End the unfinished attempts among ``which``, saying why with ``error``."""
    await session.execute(
        update(WebhookAttempt)
        .where(which, WebhookAttempt.finished_at.is_(None))
        .values(finished_at=now, error=error)
    )
