"""crm-marketing: audience segments, consented e-mail campaigns, tracking and automations.

A bundled plugin, loaded exactly like a partner's: the ``crm_graph.plugins`` entry point
``marketing`` names this module. It imports only ``crm_graph.plugin`` from crm-graph.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pluggy
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    AppContext,
    DataKind,
    EventRecord,
    EventType,
    Permissions,
    PluginMetadata,
    PluginRoute,
    ScheduledJob,
    SchemaContribution,
    Storage,
    hookimpl,
)
from crm_marketing import (
    automation_schema,
    campaign_schema,
    demo,
    events,
    hookspecs,
    jobs,
    kinds,
    merging,
    routes,
    segment_schema,
)
from crm_marketing.settings import (
    AUTOMATIONS_READ,
    CAMPAIGNS_READ,
    NAME,
    PERMISSIONS,
    SEGMENTS_READ,
    MarketingSettings,
)
from crm_marketing.tables import TABLES

__version__ = "0.1.0"


@hookimpl
def crm_plugin_metadata() -> PluginMetadata:
    return PluginMetadata(
        name=NAME,
        version=__version__,
        requires_core=">=0.1,<0.2",
        description="Audience segments, consented e-mail campaigns, tracking and automations.",
        settings=MarketingSettings,
    )


@hookimpl
def crm_add_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    plugin_manager.add_hookspecs(hookspecs)


@hookimpl
def crm_storage() -> Storage:
    return Storage(tables=TABLES, migrations=Path(__file__).parent / "migrations")


@hookimpl
def crm_schema() -> SchemaContribution:
    return SchemaContribution(
        extend={
            "Query": [
                segment_schema.SegmentQueries,
                campaign_schema.CampaignQueries,
                automation_schema.AutomationQueries,
            ],
            "Mutation": [
                segment_schema.SegmentMutations,
                campaign_schema.CampaignMutations,
                campaign_schema.HygieneMutations,
                automation_schema.AutomationMutations,
            ],
        },
    )


@hookimpl
def crm_data_kinds() -> list[DataKind]:
    return kinds.KINDS


@hookimpl
def crm_routes() -> list[PluginRoute]:
    return routes.ROUTES


@hookimpl
def crm_event_types() -> list[EventType]:
    return events.EVENT_TYPES


@hookimpl
async def crm_event(event: EventRecord, app: AppContext) -> None:
    await events.handle(event, app)


@hookimpl
def crm_permissions() -> Permissions:
    everything = list(PERMISSIONS)
    readable = [SEGMENTS_READ, CAMPAIGNS_READ, AUTOMATIONS_READ]
    return Permissions(
        declare=PERMISSIONS,
        grants={"marketing": everything, "analyst": readable, "readonly": readable},
    )


@hookimpl
def crm_scheduled_jobs(app: AppContext) -> list[ScheduledJob]:
    return jobs.declarations(app.plugin_settings(NAME))


@hookimpl
async def crm_customer_merge(
    session: AsyncSession, survivor_id: int, merged_ids: list[int]
) -> dict[str, int]:
    return await merging.merge(session, survivor_id, merged_ids)


@hookimpl
async def crm_demo_data(app: AppContext, seed: int, now: datetime, customer_ids: list[int]) -> str:
    """Segments and a sent campaign with opens, clicks and attributed orders."""
    return await demo.seed(app, seed, now, customer_ids)
