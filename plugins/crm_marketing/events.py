"""The plugin's event types, each with the JSON Schema of its payload, and what it does with
the core's events: a change to a customer or their orders refreshes that customer's place in
every dynamic segment at once (the periodic refresh catches what time alone changes)."""

from __future__ import annotations

from typing import Any

from crm_graph.plugin import AppContext, EventRecord, EventType, from_global_id
from crm_marketing import automations, campaigns, segments, tracking

_ID = {"type": "string", "description": "A global ID."}
_SEGMENT = {
    "type": "object",
    "properties": {"segmentId": _ID, "segmentName": {"type": "string"}},
    "required": ["segmentId", "segmentName"],
}

_EMAIL = {
    "type": "object",
    "properties": {
        "campaignId": {
            "type": ["string", "null"],
            "description": "A global ID; null for an automation's message.",
        },
        "messageId": {"type": "string"},
    },
    "required": ["campaignId"],
}

EVENT_TYPES = [
    EventType(
        campaigns.CAMPAIGN_SENT,
        "A campaign finished: every member of its segment has a message queued or is "
        "counted as suppressed.",
        {
            "type": "object",
            "properties": {
                "campaignId": _ID,
                "queued": {"type": "integer"},
                "suppressed": {"type": "integer"},
            },
            "required": ["campaignId", "queued", "suppressed"],
        },
        entity_type="EmailCampaign",
    ),
    EventType(
        campaigns.EMAIL_DELIVERED,
        "The mail server accepted a campaign's message to the customer.",
        _EMAIL,
        entity_type="Customer",
    ),
    EventType(
        tracking.EMAIL_OPENED,
        "The customer opened a campaign's message (its first open; the open pixel loaded).",
        _EMAIL,
        entity_type="Customer",
    ),
    EventType(
        tracking.EMAIL_CLICKED,
        "The customer followed a link of a campaign's message (the first click of each link).",
        {**_EMAIL, "properties": {**_EMAIL["properties"], "url": {"type": "string"}}},
        entity_type="Customer",
        # A campaign's link may carry a recipient's own values (?email=...): masked for
        # readers without pii:read.
        personal_data={"url": "text"},
    ),
    EventType(
        campaigns.EMAIL_UNSUBSCRIBED,
        "The customer unsubscribed through a campaign's link: their e-mail consent was "
        "withdrawn and the address suppressed.",
        _EMAIL,
        entity_type="Customer",
    ),
    EventType(
        segments.ENTERED,
        "A customer entered an audience segment (added to a static list, or newly matched "
        "by a dynamic segment's filter).",
        _SEGMENT,
        entity_type="Customer",
    ),
    EventType(
        segments.LEFT,
        "A customer left an audience segment (removed from a static list, or no longer "
        "matched by a dynamic segment's filter).",
        _SEGMENT,
        entity_type="Customer",
    ),
]

# Core events after which a customer's dynamic segments may hold differently.
CUSTOMER_EVENTS = {
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.restored",
    "customer.merged",
}
ORDER_EVENTS = {"order.placed", "order.status_changed", "order.updated"}


def customer_of(event: EventRecord) -> int | None:
    """The customer an event is about: its entity, or the customer of an order or an
    interaction (``payload.entity.customerId``)."""
    global_id: Any = None
    if event.entity_type == "Customer":
        global_id = event.entity_id
    elif event.entity_type in ("Order", "Interaction"):
        global_id = ((event.payload or {}).get("entity") or {}).get("customerId")
    if not isinstance(global_id, str):
        return None
    try:
        kind, pk = from_global_id(global_id)
    except ValueError:  # a malformed id in a stored payload: nothing to do
        return None
    return int(pk) if kind == "Customer" else None


async def handle(event: EventRecord, app: AppContext) -> None:
    """Refresh the customer's dynamic segments after a change to them or their orders, then
    enrol them in the automations the event triggers."""
    customer_id = customer_of(event)
    if customer_id is None:
        return
    if event.type in CUSTOMER_EVENTS or event.type in ORDER_EVENTS:
        await segments.refresh_all(app, among=[customer_id])
    await automations.enrol(app, event, customer_id)
