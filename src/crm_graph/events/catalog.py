"""The event types this app knows: core ones plus every plugin's ``crm_event_types``.

Each comes with the JSON Schema of its payload, so integrators can generate receivers.
"""

from __future__ import annotations

from typing import Any

from crm_graph.contributions import EventType
from crm_graph.plugins_manager import PluginError, PluginSet

CORE = "core"
HEARTBEAT = "heartbeat"

_ID = {"type": "string", "description": "A global ID, as in the GraphQL API."}
_TIME = {"type": "string", "format": "date-time"}
_MONEY = {"type": "string", "description": "A decimal amount."}
_TEXT = {"type": ["string", "null"]}


def _entity(properties: dict[str, Any]) -> dict[str, Any]:
    props = {"id": _ID, **properties}
    return {"type": "object", "properties": props, "required": sorted(props)}


_CUSTOMER = _entity(
    {
        "externalId": _TEXT,
        "name": {"type": "string"},
        "email": _TEXT,
        "phone": _TEXT,
        "company": _TEXT,
        "lifecycleStage": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "attributes": {"type": "object"},
        "createdAt": _TIME,
        "updatedAt": _TIME,
        "deletedAt": {"type": ["string", "null"], "format": "date-time"},
        "version": {"type": "integer"},
    }
)
_INTERACTION = _entity(
    {
        "customerId": _ID,
        "channel": {"type": "string"},
        "direction": {"type": "string"},
        "subject": _TEXT,
        "body": _TEXT,
        "occurredAt": _TIME,
        "createdAt": _TIME,
    }
)
_PRODUCT = _entity(
    {
        "sku": {"type": "string"},
        "name": {"type": "string"},
        "category": _TEXT,
        "price": _MONEY,
        "currency": {"type": "string"},
        "createdAt": _TIME,
        "updatedAt": _TIME,
        "version": {"type": "integer"},
    }
)
_ORDER = _entity(
    {
        "customerId": _ID,
        "number": {"type": "string"},
        "status": {"type": "string"},
        "currency": {"type": "string"},
        "placedAt": _TIME,
        "total": _MONEY,
        "createdAt": _TIME,
        "updatedAt": _TIME,
        "version": {"type": "integer"},
    }
)
_CHANGED = {"type": "array", "items": {"type": "string"}, "description": "camelCased names."}
_LINES = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"productId": _ID, "quantity": {"type": "integer"}, "unitPrice": _MONEY},
    },
}


def _payload(entity: dict[str, Any], **extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"entity": entity, **extra},
        "required": ["entity", *extra],
    }


CORE_EVENT_TYPES = [
    EventType("customer.created", "A customer was created.", _payload(_CUSTOMER), "Customer"),
    EventType(
        "customer.updated",
        "Fields of a customer changed.",
        _payload(_CUSTOMER, changedFields=_CHANGED),
        "Customer",
    ),
    EventType("customer.deleted", "A customer was soft-deleted.", _payload(_CUSTOMER), "Customer"),
    EventType(
        "customer.restored", "A deleted customer was restored.", _payload(_CUSTOMER), "Customer"
    ),
    EventType(
        "customer.merged",
        "Customers were merged into this one (the survivor).",
        _payload(_CUSTOMER, mergedIds={"type": "array", "items": _ID}),
        "Customer",
    ),
    EventType(
        "interaction.logged", "An interaction was logged.", _payload(_INTERACTION), "Interaction"
    ),
    EventType("order.placed", "An order was placed.", _payload(_ORDER, lines=_LINES), "Order"),
    EventType(
        "order.status_changed",
        "An order moved to another status.",
        _payload(_ORDER, changedFields=_CHANGED, previousStatus={"type": "string"}),
        "Order",
    ),
    EventType(
        "order.updated",
        "Fields of an order other than its status changed (an import correcting its history).",
        _payload(_ORDER, changedFields=_CHANGED),
        "Order",
    ),
    EventType("product.created", "A product was created.", _payload(_PRODUCT), "Product"),
    EventType(
        "product.updated",
        "Fields of a product changed.",
        _payload(_PRODUCT, changedFields=_CHANGED),
        "Product",
    ),
    EventType(
        "webhook.delivery_dead",
        "A webhook delivery failed its last attempt and will not be retried.",
        {
            "type": "object",
            "properties": {
                "webhookId": _ID,
                "deliveryId": _ID,
                "eventId": {"type": "string"},
                "eventType": {"type": "string"},
                "attempts": {"type": "integer"},
                "lastError": _TEXT,
            },
        },
        "Webhook",
    ),
]


def event_types(plugins: PluginSet) -> list[tuple[str, EventType]]:
    """(owner, type) for core and every plugin; a name declared twice stops startup."""
    owners: dict[str, str] = {t.name: CORE for t in CORE_EVENT_TYPES}
    found = [(CORE, t) for t in CORE_EVENT_TYPES]
    for plugin, declared in plugins.each(plugins.hook.crm_event_types):
        for event_type in declared:
            if not isinstance(event_type, EventType):
                raise PluginError(f"plugin {plugin!r}: crm_event_types must return EventType items")
            owner = owners.get(event_type.name)
            if owner is not None or event_type.name == HEARTBEAT:
                raise PluginError(
                    f"event type {event_type.name!r} is declared by both {owner or CORE!r} "
                    f"and {plugin!r}"
                )
            owners[event_type.name] = plugin
            found.append((plugin, event_type))
    return found
