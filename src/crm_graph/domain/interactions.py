"""Interactions: every touch point with a customer (e-mail, call, meeting, ...)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.db.models import Interaction, utcnow
from crm_graph.domain.customers import get_live
from crm_graph.domain.errors import Collector, not_one_of
from crm_graph.domain.values import clean_text
from crm_graph.events.payloads import entity_event

CHANNELS = ("email", "phone", "chat", "social", "meeting", "web", "sms", "other")
DIRECTIONS = ("inbound", "outbound")
MAX_BODY = 100_000


def validate_fields(
    fields: dict[str, Any], errors: Collector, at: tuple[str, ...] = ("input",)
) -> dict[str, Any]:
    """The normalised columns of a new interaction; problems go to ``errors`` (paths start
    with ``at``)."""
    channel = (fields.get("channel") or "").lower()
    if channel not in CHANNELS:
        errors.add("INVALID_VALUE", not_one_of("channel", CHANNELS), *at, "channel")
    direction = (fields.get("direction") or "inbound").lower()
    if direction not in DIRECTIONS:
        errors.add("INVALID_VALUE", not_one_of("direction", DIRECTIONS), *at, "direction")
    subject = clean_text(fields.get("subject"), errors, *at, "subject", max_length=500)
    body = clean_text(fields.get("body"), errors, *at, "body", max_length=MAX_BODY)
    occurred_at: datetime = fields.get("occurred_at") or utcnow()
    if occurred_at.tzinfo is None:
        errors.add("INVALID_VALUE", "occurredAt needs a time zone", *at, "occurredAt")
        occurred_at = occurred_at.replace(tzinfo=UTC)
    return {
        "channel": channel,
        "direction": direction,
        "subject": subject,
        "body": body,
        "occurred_at": occurred_at.astimezone(UTC),
    }


async def log_interaction(
    session: AsyncSession,
    customer_id: int,
    *,
    channel: str,
    direction: str = "inbound",
    subject: str | None = None,
    body: str | None = None,
    occurred_at: datetime | None = None,
    at: tuple[str, ...] = ("input",),
) -> Interaction:
    """Record a touch point with a live customer (emitting ``interaction.logged``); error
    paths start with ``at``, where the caller's input holds the interaction."""
    await get_live(session, customer_id, *at, "customerId")
    errors = Collector()
    fields = {
        "channel": channel,
        "direction": direction,
        "subject": subject,
        "body": body,
        "occurred_at": occurred_at,
    }
    values = validate_fields(fields, errors, at)
    errors.check()
    interaction = Interaction(customer_id=customer_id, **values)
    session.add(interaction)
    await session.flush()
    await entity_event(session, "interaction.logged", interaction)
    return interaction
