"""crm-service: tickets with a Zendesk-like lifecycle, SLAs in business hours, CSAT and NPS
surveys and service metrics, bundled with crm-graph and written as a partner's plugin.

This module is the plugin: the ``crm_graph.plugins`` entry point ``service`` names it. It
imports only ``crm_graph.plugin``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    AppContext,
    DataKind,
    EventType,
    Permissions,
    PluginMetadata,
    PluginRoute,
    ScheduledJob,
    SchemaContribution,
    Storage,
    hookimpl,
)
from crm_service import (
    demo,
    events,
    features,
    jobs,
    kinds,
    routes,
    schema,
    smtp_listener,
    surveys,
    tickets,
)
from crm_service.config import (
    NAME,
    SURVEYS_READ,
    SURVEYS_SEND,
    TICKETS_ADMIN,
    TICKETS_READ,
    TICKETS_WRITE,
    ServiceSettings,
)
from crm_service.models import TABLES

__version__ = "0.1.0"


@hookimpl
def crm_plugin_metadata() -> PluginMetadata:
    return PluginMetadata(
        name=NAME,
        version=__version__,
        requires_core=">=0.1,<0.2",
        description="Tickets, SLAs in business hours, CSAT and NPS surveys, service metrics.",
        settings=ServiceSettings,
    )


@hookimpl
def crm_storage() -> Storage:
    return Storage(tables=TABLES, migrations=Path(__file__).parent / "migrations")


@hookimpl
def crm_schema() -> SchemaContribution:
    return SchemaContribution(
        types=schema.TYPES,
        extend={
            "Customer": [schema.CustomerService],
            "Query": [schema.ServiceQueries],
            "Mutation": [
                schema.ServiceMutations,
                schema.SlaMutations,
                schema.SurveyMutations,
                schema.WebFormMutations,
            ],
        },
    )


@hookimpl
def crm_event_types() -> list[EventType]:
    return events.EVENT_TYPES


@hookimpl
def crm_routes() -> list[PluginRoute]:
    return routes.ROUTES


@hookimpl
def crm_data_kinds() -> list[DataKind]:
    return [kinds.TICKETS]


@hookimpl
def crm_scheduled_jobs(app: AppContext) -> list[ScheduledJob]:
    return jobs.declarations(app.plugin_settings(NAME))


@hookimpl
async def crm_startup(app: AppContext) -> None:
    """The inbound e-mail listener, when ``CRM_PLUGIN_SERVICE_INBOUND_SMTP`` is set."""
    await smtp_listener.start(app)


@hookimpl
async def crm_shutdown(app: AppContext) -> None:
    await smtp_listener.stop(app)


@hookimpl
def crm_permissions() -> Permissions:
    return Permissions(
        declare={
            TICKETS_READ: "See tickets, their replies, history and SLAs (own: assigned to the "
            "caller or of its customers; team: also its teammates' and its teams' queues).",
            TICKETS_WRITE: "Open, assign, reply to and move tickets through their lifecycle.",
            TICKETS_ADMIN: "Define business-hours calendars and SLA policies.",
            SURVEYS_READ: "See survey answers and the service metrics.",
            SURVEYS_SEND: "Send NPS surveys to customers.",
        },
        grants={
            "service": [TICKETS_READ, TICKETS_WRITE, SURVEYS_READ, SURVEYS_SEND],
            "sales": [f"{TICKETS_READ}@own", SURVEYS_READ],
            "marketing": [SURVEYS_READ, SURVEYS_SEND],
            "analyst": [TICKETS_READ, SURVEYS_READ],
            "integration": [TICKETS_READ, TICKETS_WRITE, SURVEYS_READ, SURVEYS_SEND],
            "readonly": [TICKETS_READ, SURVEYS_READ],
        },
    )


@hookimpl
async def crm_customer_merge(
    session: AsyncSession, survivor_id: int, merged_ids: list[int]
) -> dict[str, int]:
    moved = await tickets.merge(session, survivor_id, merged_ids)
    return {**moved, "service_surveys": await surveys.merge(session, survivor_id, merged_ids)}


@hookimpl
async def crm_customer_erase(session: AsyncSession, customer_id: int) -> None:
    await tickets.erase(session, customer_id)
    await surveys.erase(session, customer_id)


@hookimpl
async def crm_customer_export(session: AsyncSession, customer_id: int) -> dict[str, Any]:
    return {
        "tickets": await tickets.export(session, customer_id),
        "surveys": await surveys.export(session, customer_id),
    }


@hookimpl
async def crm_analytics_customer_features(
    app: AppContext, customer_ids: list[int], as_of: datetime
) -> dict[str, dict[int, float]]:
    """Feeds the analytics plugin's churn model, when analytics is enabled: open tickets,
    tickets in the last 90 days, the last CSAT rating and SLA breaches, as of ``as_of``."""
    return await features.customer_features(app, customer_ids, as_of)


@hookimpl
async def crm_demo_data(app: AppContext, customer_ids: list[int], now: datetime, seed: int) -> str:
    """Tickets in every status with history and answered surveys, for ``make demo``."""
    return await demo.seed(app, customer_ids, now, seed)
