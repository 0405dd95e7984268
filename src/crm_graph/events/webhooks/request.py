"""One webhook request: the signed body sent to a target, and what came back.

The body is the event as receivers see it; the exchange has one deadline and reads at most the
head of the answer, so a slow or endless receiver cannot hold a worker.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from crm_graph.db.models import utcnow
from crm_graph.events.models import EventRecord
from crm_graph.events.webhooks.targets import UnsafeTarget
from crm_graph.settings import Settings
from crm_graph.webhooks import sign

MAX_RESPONSE = 1000


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


def body_of(event: EventRecord, data: Any) -> str:
    """The request body: the event with ``data``, its payload as the receiver may see it."""
    return json.dumps(
        {
            "id": event.uid,
            "type": event.type,
            "timestamp": event.occurred_at.isoformat(),
            "entityType": event.entity_type,
            "entityId": event.entity_id,
            "actor": event.actor,
            "data": data,
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


async def send(http: httpx.AsyncClient, settings: Settings, job: Job) -> Outcome:
    """Make the request of ``job``; every failure becomes the outcome's ``error``.

    ``http`` is a :meth:`TargetPolicy.client`: it refuses targets that may not be reached
    (:class:`UnsafeTarget`) as it connects.
    """
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
        # One deadline for the whole exchange: httpx's own timeouts are per read, so a
        # receiver dripping a byte at a time would otherwise hold a worker forever.
        async with (
            asyncio.timeout(settings.webhook_timeout_seconds),
            http.stream("POST", job.url, content=job.body, headers=headers) as response,
        ):
            outcome.status_code = response.status_code
            outcome.response = await response_head(response)
            if response.status_code == 429:
                outcome.retry_after = retry_after(response.headers.get("retry-after"))
    except UnsafeTarget as exc:
        outcome.error = str(exc)
    except (httpx.TimeoutException, TimeoutError):
        outcome.error = f"timed out after {settings.webhook_timeout_seconds:g} s"
    except httpx.HTTPError as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"[:MAX_RESPONSE]
    outcome.latency_ms = int((time.monotonic() - started) * 1000)
    return outcome
