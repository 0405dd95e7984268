"""How the sales records are found by ID: ``deal(id:)``, ``lead(id:)``, ``company(id:)``,
``quote(id:)`` and ``node(id:)``/``nodes(ids:)`` for every sales type, with the permission and
the ownership scope of their own lists, so a record outside the caller's scope is answered as
one that does not exist. Each is a ``RowLookup`` (both read paths run it), but a pipeline,
which is a view of its row and its stages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm_graph.plugin import NodeLookup, RequestContext, RowLookup
from crm_sales import pipelines
from crm_sales.config import DEALS_READ, LEADS_MANAGE, LEADS_READ, QUOTES_READ, TASKS_READ
from crm_sales.tables import (
    SalesAssignmentRule,
    SalesCompany,
    SalesDeal,
    SalesLead,
    SalesQuote,
    SalesStage,
    SalesTask,
    SalesWebForm,
)
from crm_sales.views import pipeline_view

DEAL = RowLookup(SalesDeal, DEALS_READ, owner="owner_id")
LEAD = RowLookup(SalesLead, LEADS_READ, owner="owner_id")
COMPANY = RowLookup(SalesCompany, DEALS_READ, owner="owner_id")
# A quote is seen through its deal: the deal's owner within the quotes:read scope, the deal's
# customer within the customer scope.
QUOTE = RowLookup(
    SalesQuote,
    QUOTES_READ,
    owner=SalesDeal.owner_id,
    select=select(SalesQuote).join(SalesDeal, SalesDeal.id == SalesQuote.deal_id),
)


async def _pipelines(context: RequestContext, pks: list[int]) -> list[Any]:
    async with context.app.read() as session:
        rows = await pipelines.pipelines_by_id(session, pks)
        stages = await pipelines.stages_of(session, list(rows))
    found = {pk: pipeline_view(row, stages[pk]) for pk, row in rows.items()}
    return [found.get(pk) for pk in pks]


NODES = {
    "Deal": DEAL,
    "SalesPipeline": NodeLookup(DEALS_READ, _pipelines),
    # Removed stages too: a deal's stage history names them.
    "SalesStage": RowLookup(SalesStage, DEALS_READ),
    "Company": COMPANY,
    "Lead": LEAD,
    "SalesTask": RowLookup(SalesTask, TASKS_READ, owner="owner_id"),
    "Quote": QUOTE,
    # Not owner-scoped, as the lists of forms and assignment rules are not.
    "SalesWebForm": RowLookup(SalesWebForm, LEADS_MANAGE),
    "LeadAssignmentRule": RowLookup(SalesAssignmentRule, LEADS_MANAGE),
}
