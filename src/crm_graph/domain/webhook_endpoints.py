"""Webhook endpoints: creating, changing, pausing and deleting them, replaying an event, and
dropping settled deliveries past retention.

Business rules only (no GraphQL): URLs pass the SSRF guard, event types must exist, an
endpoint receives the events committed after it was created, and a delivery is kept while it
is pending, whatever its age. Whoever sets an endpoint's URL becomes its creator: deliveries
carry what that credential may read (else a narrower role could point a wider role's webhook
at itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.auth.principal import Principal
from crm_graph.db.models import utcnow
from crm_graph.domain.customers import check_version
from crm_graph.domain.errors import Collector, fail, not_one_of
from crm_graph.domain.values import clean_text
from crm_graph.events.models import (
    EventRecord,
    EventStore,
    WebhookDelivery,
    WebhookEndpoint,
)
from crm_graph.events.store import delete_deliveries
from crm_graph.events.webhooks.targets import TargetPolicy, UnsafeTarget
from crm_graph.webhooks import new_secret

STATUSES = ("active", "paused", "disabled")
MAX_EVENT_TYPES = 100


async def _check_fields(
    fields: dict[str, Any], known_types: Sequence[str], targets: TargetPolicy
) -> dict[str, Any]:
    errors = Collector()
    out: dict[str, Any] = {}
    if "url" in fields:
        url = clean_text(fields["url"], errors, "input", "url", max_length=2000, required=True)
        if url is not None:
            try:
                await targets.check(url)
            except UnsafeTarget as exc:
                errors.add("UNSAFE_URL", str(exc), "input", "url")
        out["url"] = url
    if "description" in fields:
        out["description"] = clean_text(
            fields["description"], errors, "input", "description", max_length=500
        )
    if "event_types" in fields:
        types = list(dict.fromkeys(fields["event_types"] or []))
        if len(types) > MAX_EVENT_TYPES:
            errors.add("TOO_MANY", f"at most {MAX_EVENT_TYPES} event types", "input", "eventTypes")
        for index, name in enumerate(types):
            if name not in known_types:
                errors.add(
                    "UNKNOWN_EVENT_TYPE", f"no event type {name!r}", "input", "eventTypes", index
                )
        out["event_types"] = types
    errors.check()
    return out


def _creator(principal: Principal) -> dict[str, Any]:
    return {
        "creator_id": principal.id,
        "creator_role": principal.role,
        "creator_user_id": principal.user_id,
    }


async def create_endpoint(
    session: AsyncSession,
    fields: dict[str, Any],
    known_types: Sequence[str],
    targets: TargetPolicy,
    creator: Principal,
) -> WebhookEndpoint:
    """A new active endpoint with a fresh secret; it gets events committed from now on, as
    ``creator`` may read them."""
    values = await _check_fields({"url": None, **fields}, known_types, targets)
    values.update(_creator(creator))
    store = await session.get(EventStore, 1)
    endpoint = WebhookEndpoint(
        **values, secret=new_secret(), start_position=store.last_position if store else 0
    )
    session.add(endpoint)
    await session.flush()
    return endpoint


async def get_endpoint(session: AsyncSession, endpoint_id: int, *path: str) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise fail("NOT_FOUND", "no such webhook", *path)
    return endpoint


async def update_endpoint(
    session: AsyncSession,
    endpoint_id: int,
    changes: dict[str, Any],
    known_types: Sequence[str],
    targets: TargetPolicy,
    editor: Principal,
    expected_version: int | None = None,
) -> WebhookEndpoint:
    """Change url, description, event types or status (``active`` re-enables a disabled one).
    A new URL makes ``editor`` the creator."""
    endpoint = await get_endpoint(session, endpoint_id, "input", "id")
    check_version(endpoint, expected_version)
    status = changes.pop("status", None)
    values = await _check_fields(changes, known_types, targets)
    if "url" in values:
        values.update(_creator(editor))
    if status is not None:
        if status not in STATUSES:
            raise fail("INVALID_VALUE", not_one_of("status", STATUSES), "input", "status")
        values["status"] = status
        if status == "active":
            values["disabled_reason"] = None
    for key, value in values.items():
        setattr(endpoint, key, value)
    endpoint.updated_at = utcnow()
    await session.flush()
    return endpoint


async def delete_endpoint(
    session: AsyncSession, endpoint_id: int, expected_version: int | None = None
) -> WebhookEndpoint:
    """Delete the endpoint with its deliveries and their attempt log."""
    endpoint = await get_endpoint(session, endpoint_id, "input", "id")
    check_version(endpoint, expected_version)
    await delete_deliveries(session, WebhookDelivery.webhook_id == endpoint.id)
    await session.delete(endpoint)
    await session.flush()
    return endpoint


async def redeliver(session: AsyncSession, endpoint_id: int, event_id: str) -> WebhookDelivery:
    """Queue ``event_id`` for the endpoint again, as a new delivery with its own attempts."""
    endpoint = await get_endpoint(session, endpoint_id, "input", "webhookId")
    if endpoint.status == "disabled":
        raise fail(
            "DISABLED", "the webhook is disabled; re-activate it first", "input", "webhookId"
        )
    found = await session.scalar(select(EventRecord.id).where(EventRecord.uid == event_id))
    if found is None:
        raise fail("NOT_FOUND", "no such event (or it is past retention)", "input", "eventId")
    delivery = WebhookDelivery(webhook_id=endpoint.id, event_uid=event_id)
    session.add(delivery)
    await session.flush()
    return delivery


def deliveries_select(endpoint_id: int, status: str | None = None) -> Select[Any]:
    """A webhook's deliveries, optionally of one status (for paging by the caller)."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == endpoint_id)
    return stmt if status is None else stmt.where(WebhookDelivery.status == status)
