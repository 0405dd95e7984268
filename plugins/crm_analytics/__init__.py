"""crm-analytics: RFM, customer lifetime value, churn risk, segments and recommendations.

A bundled plugin, loaded exactly like a partner's: the ``crm_graph.plugins`` entry point
``analytics`` names this module. It imports only ``crm_graph.plugin`` from crm-graph. Models
are trained in batch (``trainAnalyticsModels`` or ``crm-graph analytics train``) and their
scores stored; the GraphQL fields only read what was stored.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pluggy
import typer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_analytics import commands, hookspecs, jobs, schema, store
from crm_analytics.jobs import Jobs, train_here
from crm_analytics.settings import NAME, AnalyticsSettings
from crm_analytics.store import REJECTED_EVENT, TRAINED_EVENT
from crm_analytics.tables import TABLES
from crm_graph.plugin import (
    AppContext,
    EventRecord,
    EventType,
    Permissions,
    PluginMetadata,
    ScheduledJob,
    SchemaContribution,
    Storage,
    hookimpl,
    utcnow,
)

__version__ = "0.1.0"


@hookimpl
def crm_plugin_metadata() -> PluginMetadata:
    return PluginMetadata(
        name=NAME,
        version=__version__,
        requires_core=">=0.1,<0.2",
        description="RFM, lifetime value, churn risk, segments and product recommendations.",
        settings=AnalyticsSettings,
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
            "Customer": [schema.CustomerAnalytics],
            "Product": [schema.ProductAnalytics],
            "Query": [schema.AnalyticsQuery],
            "Mutation": [schema.AnalyticsMutations],
        },
    )


@hookimpl
def crm_event_types() -> list[EventType]:
    return [
        EventType(
            name=TRAINED_EVENT,
            description="A training run finished and its scores are now served.",
            payload_schema={
                "type": "object",
                "properties": {
                    "asOf": {"type": ["string", "null"], "format": "date-time"},
                    "models": {"type": "object", "additionalProperties": {"type": "boolean"}},
                    "customers": {"type": "integer"},
                    "version": {"type": "integer"},
                },
                "required": ["asOf", "models", "customers", "version"],
            },
            entity_type="AnalyticsJob",
        ),
        EventType(
            name=REJECTED_EVENT,
            description="A training run's figures fell more than the margin "
            "(CRM_PLUGIN_ANALYTICS_REJECT_MARGIN) below the active version's: it is kept in "
            "the history, not served.",
            payload_schema={
                "type": "object",
                "properties": {
                    "asOf": {"type": "string", "format": "date-time"},
                    "version": {"type": "integer"},
                    "activeVersion": {"type": ["integer", "null"]},
                    "reason": {"type": "string"},
                },
                "required": ["asOf", "version", "activeVersion", "reason"],
            },
            entity_type="AnalyticsJob",
        ),
    ]


@hookimpl
def crm_scheduled_jobs(app: AppContext) -> list[ScheduledJob]:
    return jobs.declarations(app.plugin_settings(NAME))


@hookimpl
async def crm_event(event: EventRecord, app: AppContext) -> None:
    """Count new orders towards the next training (``CRM_PLUGIN_ANALYTICS_RETRAIN_AFTER_ORDERS``)."""
    if event.type == "order.placed":
        await jobs.orders_arrived(app)


@hookimpl
def crm_permissions() -> Permissions:
    return Permissions(
        declare={
            "analytics:read": "Read analytics scores, fitted models and reports.",
            "analytics:train": "Start training the analytics models.",
        },
        grants={
            "analyst": ["analytics:read", "analytics:train"],
            "marketing": ["analytics:read"],
            "sales": ["analytics:read"],
            "service": ["analytics:read"],
            "readonly": ["analytics:read"],
        },
    )


@hookimpl
async def crm_customer_merge(
    session: AsyncSession, survivor_id: int, merged_ids: list[int]
) -> dict[str, int]:
    """Drop the merged customers' scores (they are soft-deleted); the survivor keeps its own
    until the next training scores it with the history it gained."""
    return await store.forget(session, merged_ids)


@hookimpl
async def crm_startup(app: AppContext) -> None:
    app.plugin_state[NAME] = Jobs(app)


@hookimpl
async def crm_shutdown(app: AppContext) -> None:
    jobs: Jobs | None = app.plugin_state.pop(NAME, None)
    if jobs is not None:
        await jobs.stop()


@hookimpl
def crm_cli(cli: typer.Typer) -> None:
    commands.register(cli)


@hookimpl
async def crm_demo_data(app: AppContext, now: datetime) -> str:
    """Train the models on the demo data (as of its end), so the analytics fields answer."""
    trained = await train_here(app, min(now, utcnow()))
    return trained.summary()
