"""The sales event types, each with the JSON Schema of its payload (listed by ``eventTypes``,
chosen by webhooks, delivered like core events)."""

from __future__ import annotations

from typing import Any

from crm_graph.plugin import EventType
from crm_sales.config import DEALS_READ, LEADS_READ, QUOTES_READ, TASKS_READ

_ID = {"type": "string"}
_MONEY = {
    "type": "object",
    "properties": {"amount": {"type": "string"}, "currency": {"type": "string"}},
    "required": ["amount", "currency"],
}
_DEAL: dict[str, Any] = {
    "name": {"type": "string"},
    "customerId": _ID,
    "pipelineId": _ID,
    "stageId": _ID,
    "amount": _MONEY,
    "ownerId": {"type": ["string", "null"]},
    "expectedCloseDate": {"type": ["string", "null"], "format": "date"},
    "version": {"type": "integer"},
}


def _deal_schema(**extra: Any) -> dict[str, Any]:
    properties = {**_DEAL, **extra}
    return {"type": "object", "properties": properties, "required": sorted(properties)}


_DEAL_EVENT: dict[str, Any] = {"entity_type": "Deal", "permission": DEALS_READ}

EVENT_TYPES = [
    EventType("deal.created", "A deal was created.", _deal_schema(), **_DEAL_EVENT),
    EventType(
        "deal.updated",
        "A deal's name, amount, close date or owner changed.",
        _deal_schema(),
        **_DEAL_EVENT,
    ),
    EventType(
        "deal.stage_changed",
        "A deal moved to another stage (fromStageId: the stage it left).",
        _deal_schema(fromStageId=_ID, status={"enum": ["OPEN", "WON", "LOST"]}),
        **_DEAL_EVENT,
    ),
    EventType("deal.won", "A deal entered a won stage.", _deal_schema(), **_DEAL_EVENT),
    EventType(
        "deal.lost",
        "A deal entered a lost stage, with the reason.",
        _deal_schema(lostReason={"type": "string"}),
        **_DEAL_EVENT,
    ),
]

_NULLABLE_ID = {"type": ["string", "null"]}
_LEAD: dict[str, Any] = {
    "name": {"type": "string"},
    "company": {"type": ["string", "null"]},
    "email": {"type": ["string", "null"]},
    "phone": {"type": ["string", "null"]},
    "status": {"enum": ["NEW", "WORKING", "QUALIFIED", "DISQUALIFIED", "CONVERTED"]},
    "source": {"type": "string"},
    "ownerId": {"type": ["string", "null"]},
    "score": {"type": ["integer", "null"]},
    "version": {"type": "integer"},
}
_TASK: dict[str, Any] = {
    "title": {"type": "string"},
    "dueAt": {"type": "string", "format": "date-time"},
    "ownerId": {"type": ["string", "null"]},
    "status": {"enum": ["OPEN", "DONE"]},
    "leadId": _NULLABLE_ID,
    "dealId": _NULLABLE_ID,
    "customerId": _NULLABLE_ID,
}


def _schema(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": sorted(properties)}


# Lead events carry the lead's contact details, masked for readers without pii:read; only
# readers holding leads:read (tasks:read) see the payload at all.
_LEAD_PII = {"name": "text", "company": "text", "email": "email", "phone": "phone"}
_LEAD_EVENT: dict[str, Any] = {
    "entity_type": "Lead",
    "personal_data": _LEAD_PII,
    "permission": LEADS_READ,
}
_TASK_EVENT: dict[str, Any] = {
    "entity_type": "SalesTask",
    "personal_data": {"title": "text"},
    "permission": TASKS_READ,
}
_COMPANY_EVENT: dict[str, Any] = {
    "payload_schema": _schema(
        {
            "name": {"type": "string"},
            "ownerId": {"type": ["string", "null"]},
            "version": {"type": "integer"},
        }
    ),
    "entity_type": "Company",
    "permission": DEALS_READ,
}


EVENT_TYPES += [
    EventType(
        "lead.created",
        "A lead was created (by the API, an import or a web form).",
        _schema(_LEAD),
        **_LEAD_EVENT,
    ),
    EventType("lead.updated", "A lead's details changed.", _schema(_LEAD), **_LEAD_EVENT),
    EventType(
        "lead.status_changed",
        "A lead's status changed (reason: why it was disqualified).",
        _schema({**_LEAD, "reason": {"type": ["string", "null"]}}),
        **_LEAD_EVENT,
    ),
    EventType(
        "lead.converted",
        "A lead became a customer (linked or created) and maybe a deal.",
        _schema(
            {
                **_LEAD,
                "customerId": _ID,
                "createdCustomer": {"type": "boolean"},
                "dealId": _NULLABLE_ID,
            }
        ),
        **_LEAD_EVENT,
    ),
    EventType("company.created", "A company (account) was created.", **_COMPANY_EVENT),
    EventType("company.updated", "A company's details changed.", **_COMPANY_EVENT),
    EventType("task.created", "A task was created.", _schema(_TASK), **_TASK_EVENT),
    EventType(
        "task.updated", "A task was completed, reopened or changed.", _schema(_TASK), **_TASK_EVENT
    ),
    EventType(
        "task.due",
        "A task came due: emitted once per task (again only if its due time changes).",
        _schema(_TASK),
        **_TASK_EVENT,
    ),
]

_QUOTE = _schema(
    {
        "dealId": _ID,
        "status": {"enum": ["SENT", "DECLINED", "ACCEPTED"]},
        "total": _MONEY,
        "orderId": _NULLABLE_ID,
    }
)
_QUOTE_EVENT: dict[str, Any] = {"entity_type": "Quote", "permission": QUOTES_READ}
EVENT_TYPES += [
    EventType(
        "quote.updated",
        "A draft quote's lines (totals), validity or contact changed.",
        _schema(
            {
                "dealId": _ID,
                "status": {"enum": ["DRAFT"]},
                "total": _MONEY,
                "lines": {"type": "integer"},
                "version": {"type": "integer"},
            }
        ),
        **_QUOTE_EVENT,
    ),
    EventType("quote.sent", "A quote was sent.", _QUOTE, **_QUOTE_EVENT),
    EventType("quote.declined", "A quote was declined.", _QUOTE, **_QUOTE_EVENT),
    EventType(
        "quote.accepted",
        "A quote was accepted: its order was placed (orderId) and its deal won.",
        _QUOTE,
        **_QUOTE_EVENT,
    ),
]
