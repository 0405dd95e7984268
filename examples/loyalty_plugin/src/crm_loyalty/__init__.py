"""crm-loyalty: loyalty points and tiers for crm-graph, written as a partner would write it.

This module is the plugin: the ``crm_graph.plugins`` entry point ``loyalty`` names it, and
crm-graph registers its ``@hookimpl`` functions. It imports only ``crm_graph.plugin``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    AppContext,
    DataKind,
    Permissions,
    PluginMetadata,
    PluginRoute,
    ScheduledJob,
    SchemaContribution,
    Storage,
    hookimpl,
)
from crm_loyalty import accounts, entries, jobs, routes, schema
from crm_loyalty.config import NAME, READ, WRITE, LoyaltySettings
from crm_loyalty.models import TABLES

__version__ = "1.0.0"

log = logging.getLogger(__name__)


@hookimpl
def crm_plugin_metadata() -> PluginMetadata:
    return PluginMetadata(
        name=NAME,
        version=__version__,
        requires_core=">=0.1,<0.2",
        description="Loyalty points and tiers for customers.",
        settings=LoyaltySettings,
    )


@hookimpl
def crm_storage() -> Storage:
    return Storage(tables=TABLES, migrations=Path(__file__).parent / "migrations")


@hookimpl
def crm_schema() -> SchemaContribution:
    return SchemaContribution(
        types=[schema.LoyaltyTierType, schema.LoyaltyAccountType, schema.LoyaltyMemberMatchType],
        extend={
            "Customer": [schema.CustomerLoyalty],
            "Query": [schema.LoyaltyQueries],
            "Mutation": [schema.LoyaltyMutations],
            "Subscription": [schema.LoyaltySubscriptions],
        },
    )


@hookimpl
def crm_data_kinds() -> list[DataKind]:
    return [entries.LOYALTY_ENTRIES]


@hookimpl
def crm_routes() -> list[PluginRoute]:
    return routes.ROUTES


@hookimpl
def crm_scheduled_jobs(app: AppContext) -> list[ScheduledJob]:
    return jobs.declarations(app.plugin_settings(NAME))


@hookimpl
def crm_permissions() -> Permissions:
    both = [READ, WRITE]
    return Permissions(
        declare={
            READ: "See loyalty balances and tiers, and follow them live.",
            WRITE: "Award loyalty points and redeem them for rewards.",
        },
        grants={
            "sales": [READ, f"{WRITE}@own"],
            "marketing": both,
            "service": both,
            "integration": both,
            "analyst": [READ],
            "readonly": [READ],
        },
    )


@hookimpl
async def crm_customer_merge(
    session: AsyncSession, survivor_id: int, merged_ids: list[int]
) -> dict[str, int]:
    return await accounts.merge(session, survivor_id, merged_ids)


@hookimpl
async def crm_customer_erase(session: AsyncSession, customer_id: int) -> None:
    await accounts.erase(session, customer_id)


@hookimpl
async def crm_analytics_customer_features(
    app: AppContext, customer_ids: list[int], as_of: datetime
) -> dict[str, dict[int, float]]:
    """Feeds the analytics plugin's churn model, when analytics is enabled: each customer's
    points balance as it stood at ``as_of`` (customers without points count as 0)."""
    async with app.read() as session:
        balances = await accounts.balances_at(session, as_of)
    wanted = set(customer_ids)
    return {"points_balance": {c: float(p) for c, p in balances.items() if c in wanted}}


@hookimpl
async def crm_startup(app: AppContext) -> None:
    """Say which tiers are in force, and warn early when the loyalty branch is not migrated."""
    async with app.engine.connect() as connection:
        migrated = await connection.run_sync(
            lambda conn: all(inspect(conn).has_table(t.__tablename__) for t in TABLES)
        )
    if not migrated:
        log.warning("loyalty tables are missing: run `crm-graph migrate`")
    tiers = app.plugin_settings(NAME).tiers
    log.info("loyalty tiers: %s", ", ".join(f"{n} >= {m}" for n, m in tiers.items()))


@hookimpl
async def crm_demo_data(app: AppContext, customer_ids: list[int]) -> str:
    """Points for the demo customers' past orders, so ``make demo`` shows balances and tiers."""
    awarded = await accounts.award_demo_points(app, customer_ids, app.plugin_settings(NAME))
    return f"points for {awarded} customers"
