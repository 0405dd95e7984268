"""crm-sales: pipelines and deals for crm-graph, bundled and written only against the plugin
API (``crm_graph.plugin``), exactly as a partner's plugin would be.

This module is the plugin: the ``crm_graph.plugins`` entry point ``sales`` names it.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    EventType,
    Permissions,
    PluginMetadata,
    SchemaContribution,
    Storage,
    hookimpl,
)
from crm_sales import deals, events, schema, views
from crm_sales.config import DEALS_MANAGE, DEALS_READ, DEALS_WRITE, NAME, SalesSettings
from crm_sales.tables import TABLES

__version__ = "0.1.0"


@hookimpl
def crm_plugin_metadata() -> PluginMetadata:
    return PluginMetadata(
        name=NAME,
        version=__version__,
        requires_core=">=0.1,<0.2",
        description="Sales pipelines and deals.",
        settings=SalesSettings,
    )


@hookimpl
def crm_storage() -> Storage:
    return Storage(tables=TABLES, migrations=Path(__file__).parent / "migrations")


@hookimpl
def crm_schema() -> SchemaContribution:
    return SchemaContribution(
        types=[views.SalesStageType, views.SalesPipelineType, views.DealType],
        extend={
            "Customer": [schema.CustomerSales],
            "Query": [schema.DealQueries],
            "Mutation": [schema.DealMutations],
        },
    )


@hookimpl
def crm_event_types() -> list[EventType]:
    return events.EVENT_TYPES


@hookimpl
def crm_permissions() -> Permissions:
    """Reps see and work their own deals, managers their team's (HubSpot's "team" visibility),
    analysts and read-only users see every deal; admins hold everything."""
    return Permissions(
        declare={
            DEALS_READ: "See deals and pipelines.",
            DEALS_WRITE: "Create, change and move deals.",
            DEALS_MANAGE: "Create and change pipelines and their stages.",
        },
        grants={
            "sales": [f"{DEALS_READ}@own", f"{DEALS_WRITE}@own"],
            "sales_manager": [
                "customers:read@team",
                "customers:write@team",
                "interactions:read@team",
                "interactions:write@team",
                "orders:read@team",
                "orders:write@team",
                "products:read",
                "pii:read",
                "users:read",
                f"{DEALS_READ}@team",
                f"{DEALS_WRITE}@team",
                DEALS_MANAGE,
            ],
            "integration": [DEALS_READ, DEALS_WRITE],
            "analyst": [DEALS_READ],
            "readonly": [DEALS_READ],
        },
    )


@hookimpl
async def crm_customer_merge(
    session: AsyncSession, survivor_id: int, merged_ids: list[int]
) -> dict[str, int]:
    """The merged customers' deals become the survivor's (their history stays with them)."""
    return {"deals": await deals.merge(session, survivor_id, merged_ids)}


@hookimpl
async def crm_customer_erase(session: AsyncSession, customer_id: int) -> None:
    """Deals are business records, not personal data: they stay with the erased customer
    (whose name and contact details the core removes), as orders do."""
