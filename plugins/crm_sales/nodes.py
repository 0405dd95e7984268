"""How ``node(id:)`` and ``nodes(ids:)`` find the sales types: with the permission and the
ownership scope of their own lists and lookups (``deal(id:)``, ``leads``...), so a record
outside the caller's scope is answered as one that does not exist."""

from __future__ import annotations

from typing import Any

from crm_graph.plugin import NodeLookup, RequestContext
from crm_sales import deals, pipelines, quotes
from crm_sales.config import DEALS_READ, LEADS_MANAGE, LEADS_READ, QUOTES_READ, TASKS_READ
from crm_sales.scopes import EVERYTHING, Sight, sight
from crm_sales.tables import SalesAssignmentRule, SalesCompany, SalesLead, SalesTask, SalesWebForm
from crm_sales.views import pipeline_view


def _in_order(found: dict[int, Any], pks: list[int]) -> list[Any]:
    return [found.get(pk) for pk in pks]


async def _deals(context: RequestContext, pks: list[int]) -> list[Any]:
    async with context.app.read() as session:
        rows = await deals.visible_deals(session, pks, sight(context.principal, DEALS_READ))
    return _in_order({row.id: row for row in rows}, pks)


async def _pipelines(context: RequestContext, pks: list[int]) -> list[Any]:
    async with context.app.read() as session:
        rows = await pipelines.pipelines_by_id(session, pks)
        stages = await pipelines.stages_of(session, list(rows))
    return _in_order({pk: pipeline_view(row, stages[pk]) for pk, row in rows.items()}, pks)


async def _stages(context: RequestContext, pks: list[int]) -> list[Any]:
    """Removed stages too: a deal's stage history names them."""
    async with context.app.read() as session:
        rows = await pipelines.stages_by_id(session, set(pks))
    return _in_order(rows, pks)


async def _quotes(context: RequestContext, pks: list[int]) -> list[Any]:
    """Quotes are seen through their deal's owner (``quotes:read`` scope)."""
    async with context.app.read() as session:
        found = await quotes.visible_quotes(session, pks, sight(context.principal, QUOTES_READ))
    return _in_order({quote.id: quote for quote in found}, pks)  # type: ignore[misc]


def _rows(model: Any, permission: str | None) -> Any:
    """Rows shown as they are, owner-scoped by ``permission`` (``None``: not scoped, as the
    lists of forms and assignment rules are not)."""

    async def load(context: RequestContext, pks: list[int]) -> list[Any]:
        seen: Sight = EVERYTHING if permission is None else sight(context.principal, permission)
        async with context.app.read() as session:
            return _in_order(await seen.rows(session, model, pks), pks)

    return load


NODES = {
    "Deal": NodeLookup(DEALS_READ, _deals),
    "SalesPipeline": NodeLookup(DEALS_READ, _pipelines),
    "SalesStage": NodeLookup(DEALS_READ, _stages),
    "Company": NodeLookup(DEALS_READ, _rows(SalesCompany, DEALS_READ)),
    "Lead": NodeLookup(LEADS_READ, _rows(SalesLead, LEADS_READ)),
    "SalesTask": NodeLookup(TASKS_READ, _rows(SalesTask, TASKS_READ)),
    "Quote": NodeLookup(QUOTES_READ, _quotes),
    "SalesWebForm": NodeLookup(LEADS_MANAGE, _rows(SalesWebForm, None)),
    "LeadAssignmentRule": NodeLookup(LEADS_MANAGE, _rows(SalesAssignmentRule, None)),
}
