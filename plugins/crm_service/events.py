"""The event types the service plugin emits, each with the JSON Schema of its payload. A
payload is seen by readers holding ``tickets:read`` (``surveys:read`` where it carries a
survey link or an answer); it holds no free text, so nothing in it is masked."""

from __future__ import annotations

from typing import Any

from crm_graph.plugin import EventType
from crm_service.config import SURVEYS_READ, TICKETS_READ

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
    EventType(
        "ticket.created",
        "A ticket was opened.",
        _schema(),
        entity_type="Ticket",
        permission=TICKETS_READ,
    ),
    EventType(
        "ticket.status_changed",
        "A ticket moved to another status (``from`` and ``to``).",
        _schema(
            {"from": {"enum": ["NEW", "OPEN", "PENDING", "RESOLVED"]}, "to": _TICKET["status"]},
            ("from", "to"),
        ),
        entity_type="Ticket",
        permission=TICKETS_READ,
    ),
    EventType(
        "ticket.assigned",
        "A ticket got another assignee or team queue.",
        _schema(),
        entity_type="Ticket",
        permission=TICKETS_READ,
    ),
    EventType(
        "ticket.sla_warning",
        "An SLA target of a ticket is due within the warning lead time "
        "(CRM_PLUGIN_SERVICE_SLA_WARNING_LEAD); once per target.",
        _schema(_TARGET, ("target", "dueAt", "policy")),
        entity_type="Ticket",
        permission=TICKETS_READ,
    ),
    EventType(
        "ticket.sla_breached",
        "An SLA target of a ticket was missed; once per target.",
        _schema(_TARGET, ("target", "dueAt", "policy")),
        entity_type="Ticket",
        permission=TICKETS_READ,
    ),
    EventType(
        "ticket.resolved",
        "A ticket was resolved; ``surveyUrl`` is the link of its CSAT survey (made on the first "
        "resolution only, null after).",
        _schema({"surveyUrl": {"type": ["string", "null"]}}, ("surveyUrl",)),
        entity_type="Ticket",
        permission=SURVEYS_READ,  # the link answers the survey: a credential
    ),
    EventType(
        "survey.responded",
        "A customer answered a CSAT (1-5) or NPS (0-10) survey (the comment, personal data, "
        "is not in the event).",
        {
            "type": "object",
            "properties": {
                "kind": {"enum": ["CSAT", "NPS"]},
                "rating": {"type": "integer", "minimum": 0, "maximum": 10},
                "customerId": {"type": "string"},
                "ticketId": {"type": ["string", "null"]},
            },
            "required": ["kind", "rating", "customerId", "ticketId"],
        },
        entity_type="Survey",
        permission=SURVEYS_READ,
    ),
]
