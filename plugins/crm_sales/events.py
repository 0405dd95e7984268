"""The sales event types, each with the JSON Schema of its payload (listed by ``eventTypes``,
chosen by webhooks, delivered like core events)."""

from __future__ import annotations

from typing import Any

from crm_graph.plugin import EventType

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


EVENT_TYPES = [
    EventType("deal.created", "A deal was created.", _deal_schema(), entity_type="Deal"),
    EventType(
        "deal.updated",
        "A deal's name, amount, close date or owner changed.",
        _deal_schema(),
        entity_type="Deal",
    ),
    EventType(
        "deal.stage_changed",
        "A deal moved to another stage (fromStageId: the stage it left).",
        _deal_schema(fromStageId=_ID, status={"enum": ["OPEN", "WON", "LOST"]}),
        entity_type="Deal",
    ),
    EventType("deal.won", "A deal entered a won stage.", _deal_schema(), entity_type="Deal"),
    EventType(
        "deal.lost",
        "A deal entered a lost stage, with the reason.",
        _deal_schema(lostReason={"type": "string"}),
        entity_type="Deal",
    ),
]
