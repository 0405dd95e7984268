"""Consent records: a customer's permission to be contacted on a channel, given or withdrawn.

Records are appended, never changed: the newest record per channel is in force, and the
history shows when and where each decision came from.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.models import CustomerConsent
from crm_graph.domain.customers import get_live
from crm_graph.domain.errors import Collector, not_one_of
from crm_graph.domain.values import clean_text
from crm_graph.events.outbox import ACTOR

CHANNELS = ("email", "sms", "phone", "post", "push", "other")


async def record_consent(
    session: AsyncSession,
    customer_id: int,
    channel: str,
    granted: bool,
    source: str | None = None,
    at: tuple[str, ...] = ("input",),
) -> CustomerConsent:
    """Append a decision (``granted=False`` withdraws consent); the actor is the unit of
    work's caller. Error paths start with ``at``, where the caller's input holds it."""
    await get_live(session, customer_id, *at, "customerId")
    errors = Collector()
    if channel not in CHANNELS:
        errors.add("INVALID_VALUE", not_one_of("channel", CHANNELS), *at, "channel")
    source = clean_text(source, errors, *at, "source", max_length=200)
    errors.check()
    consent = CustomerConsent(
        customer_id=customer_id,
        channel=channel,
        granted=granted,
        source=source,
        actor=session.info.get(ACTOR),
    )
    session.add(consent)
    await session.flush()
    return consent
