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

CHANNELS = ("email", "sms", "phone", "post", "push", "other")


async def record_consent(
    session: AsyncSession,
    customer_id: int,
    channel: str,
    granted: bool,
    source: str | None,
    actor: str | None,
) -> CustomerConsent:
    await get_live(session, customer_id, "input", "customerId")
    errors = Collector()
    if channel not in CHANNELS:
        errors.add("INVALID_VALUE", not_one_of("channel", CHANNELS), "input", "channel")
    source = clean_text(source, errors, "input", "source", max_length=200)
    errors.check()
    consent = CustomerConsent(
        customer_id=customer_id, channel=channel, granted=granted, source=source, actor=actor
    )
    session.add(consent)
    await session.flush()
    return consent
