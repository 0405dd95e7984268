"""The event types the service plugin emits, each with the JSON Schema of its payload."""

from __future__ import annotations

from typing import Any

from crm_graph.plugin import EventType

_NULLABLE_TEXT = {"type": ["string", "null"]}
_TICKET: dict[str, Any] = {
    "customerId": {"type": "string", "description": "The ticket's customer (global ID)."},
    "status": {"enum": ["NEW", "OPEN", "PENDING", "RESOLVED", "CLOSED"]},
    "priority": {"enum": ["LOW", "NORMAL", "HIGH", "URGENT"]},
    "channel": {"enum": ["EMAIL", "PHONE", "CHAT", "WEB", "SOCIAL"]},
    "assigneeId": {**_NULLABLE_TEXT, "description": "The assignee's user id."},
    "teamId": {**_NULLABLE_TEXT, "description": "The team queue (global ID)."},
}


def _schema(extra: dict[str, Any] | None = None, required: tuple[str, ...] = ()) -> dict[str, Any]:
    properties = {**_TICKET, **(extra or {})}
    return {
        "type": "object",
        "properties": properties,
        "required": ["customerId", "status", "priority", *required],
    }


_TARGET = {
    "target": {"enum": ["FIRST_RESPONSE", "RESOLUTION"]},
    "dueAt": {"type": "string", "format": "date-time"},
    "policy": {"type": "string", "description": "The SLA policy's name."},
}

EVENT_TYPES = [
    EventType("ticket.created", "A ticket was opened.", _schema(), entity_type="Ticket"),
    EventType(
        "ticket.status_changed",
        "A ticket moved to another status (``from`` and ``to``).",
        _schema(
            {"from": {"enum": ["NEW", "OPEN", "PENDING", "RESOLVED"]}, "to": _TICKET["status"]},
            ("from", "to"),
        ),
        entity_type="Ticket",
    ),
    EventType(
        "ticket.assigned",
        "A ticket got another assignee or team queue.",
        _schema(),
        entity_type="Ticket",
    ),
    EventType(
        "ticket.sla_warning",
        "An SLA target of a ticket is due within the warning lead time "
        "(CRM_PLUGIN_SERVICE_SLA_WARNING_LEAD); once per target.",
        _schema(_TARGET, ("target", "dueAt", "policy")),
        entity_type="Ticket",
    ),
    EventType(
        "ticket.sla_breached",
        "An SLA target of a ticket was missed; once per target.",
        _schema(_TARGET, ("target", "dueAt", "policy")),
        entity_type="Ticket",
    ),
]
