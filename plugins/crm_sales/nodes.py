"""How the sales records are found by ID: ``deal(id:)``, ``lead(id:)``, ``company(id:)``,
``quote(id:)`` and ``node(id:)``/``nodes(ids:)`` for every sales type, with the permission and
the ownership scope of their own lists, so a record outside the caller's scope is answered as
one that does not exist. Each is a ``RowLookup`` (both read paths run it)."""

from __future__ import annotations

from sqlalchemy import select

from crm_graph.plugin import RowLookup
from crm_sales.config import DEALS_READ, LEADS_MANAGE, LEADS_READ, QUOTES_READ, TASKS_READ
from crm_sales.tables import (
    SalesAssignmentRule,
    SalesCompany,
    SalesDeal,
    SalesLead,
    SalesPipeline,
    SalesQuote,
    SalesStage,
    SalesTask,
    SalesWebForm,
)

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


NODES = {
    "Deal": DEAL,
    "SalesPipeline": RowLookup(SalesPipeline, DEALS_READ),
    # Removed stages too: a deal's stage history names them.
    "SalesStage": RowLookup(SalesStage, DEALS_READ),
    "Company": COMPANY,
    "Lead": LEAD,
    "SalesTask": RowLookup(SalesTask, TASKS_READ, owner="owner_id"),
    "Quote": QUOTE,
    # Not owner-scoped, as the lists of pipelines, forms and assignment rules are not.
    "SalesWebForm": RowLookup(SalesWebForm, LEADS_MANAGE),
    "LeadAssignmentRule": RowLookup(SalesAssignmentRule, LEADS_MANAGE),
}
