"""crm-sales: pipelines and deals for crm-graph, bundled and written only against the plugin
API (``crm_graph.plugin``), exactly as a partner's plugin would be.

This module is the plugin: the ``crm_graph.plugins`` entry point ``sales`` names it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.plugin import (
    AppContext,
    DataKind,
    EventType,
    JobRun,
    Permissions,
    PluginMetadata,
    PluginRoute,
    ScheduledJob,
    SchemaContribution,
    Storage,
    hookimpl,
    utcnow,
)
from crm_sales import (
    commands,
    companies,
    deals,
    demo,
    events,
    features,
    forms,
    kinds,
    lead_schema,
    lead_views,
    leads,
    nodes,
    privacy,
    quote_schema,
    quotes,
    schema,
    tasks,
    views,
)
from crm_sales.config import (
    DEALS_MANAGE,
    DEALS_READ,
    DEALS_WRITE,
    LEADS_MANAGE,
    LEADS_READ,
    LEADS_WRITE,
    NAME,
    QUOTES_EXPIRE,
    QUOTES_READ,
    QUOTES_WRITE,
    TASKS_DUE,
    TASKS_READ,
    TASKS_WRITE,
    TRAIN_SCORING,
    SalesSettings,
)
from crm_sales.tables import TABLES

__version__ = "0.1.0"


@hookimpl
def crm_plugin_metadata() -> PluginMetadata:
    return PluginMetadata(
        name=NAME,
        version=__version__,
        requires_core=">=0.1,<0.2",
        description="Sales: leads, companies, pipelines and deals, tasks.",
        settings=SalesSettings,
    )


@hookimpl
def crm_storage() -> Storage:
    return Storage(tables=TABLES, migrations=Path(__file__).parent / "migrations")


@hookimpl
def crm_schema() -> SchemaContribution:
    return SchemaContribution(
        types=[
            views.SalesStageType,
            views.SalesPipelineType,
            views.DealType,
            *lead_views.ROW_TYPES.values(),
            quote_schema.QuoteType,
        ],
        extend={
            "Customer": [schema.CustomerSales, lead_views.CustomerCompany],
            "Query": [
                schema.DealQueries,
                schema.ForecastQueries,
                lead_schema.LeadQueries,
                lead_schema.CompanyQueries,
                lead_schema.TaskQueries,
                quote_schema.QuoteQueries,
            ],
            "Mutation": [
                schema.DealMutations,
                lead_schema.LeadMutations,
                lead_schema.CompanyMutations,
                lead_schema.TaskMutations,
                quote_schema.QuoteMutations,
            ],
        },
        nodes=nodes.NODES,
    )


@hookimpl
def crm_event_types() -> list[EventType]:
    return events.EVENT_TYPES


@hookimpl
def crm_data_kinds() -> list[DataKind]:
    return [kinds.LEADS, kinds.DEALS]


@hookimpl
def crm_routes() -> list[PluginRoute]:
    return forms.ROUTES


@hookimpl
def crm_scheduled_jobs(app: AppContext) -> list[ScheduledJob]:
    every = app.plugin_settings(NAME).tasks_due_every
    return [
        ScheduledJob(TASKS_DUE, tasks.due_job, schedule=every),
        ScheduledJob(QUOTES_EXPIRE, expire_quotes, schedule="5 0 * * *"),
        ScheduledJob(
            TRAIN_SCORING,
            commands.train_job,
            schedule=app.plugin_settings(NAME).scoring_schedule,
        ),
    ]


@hookimpl
def crm_cli(cli: typer.Typer) -> None:
    cli.add_typer(commands.group, name=NAME)  # crm-graph sales train


async def expire_quotes(app: AppContext, run: JobRun) -> None:
    """Daily: quotes past their validity become EXPIRED."""
    async with app.write() as session:
        await quotes.expire_due(session, utcnow().date())


_OWN = [
    DEALS_READ,
    DEALS_WRITE,
    LEADS_READ,
    LEADS_WRITE,
    QUOTES_READ,
    QUOTES_WRITE,
    TASKS_READ,
    TASKS_WRITE,
]
_READ = [DEALS_READ, LEADS_READ, QUOTES_READ, TASKS_READ]


@hookimpl
def crm_permissions() -> Permissions:
    """Reps see and work their own deals, leads and tasks, managers their team's (HubSpot's
    "team" visibility); analysts and read-only users see them all; admins hold everything."""
    return Permissions(
        declare={
            DEALS_READ: "See deals, pipelines and companies.",
            DEALS_WRITE: "Create, change and move deals; create companies and link contacts.",
            DEALS_MANAGE: "Create and change pipelines and their stages.",
            LEADS_READ: "See leads.",
            LEADS_WRITE: "Create, change, qualify, disqualify and convert leads.",
            LEADS_MANAGE: "Manage web-to-lead forms and lead assignment rules.",
            QUOTES_READ: "See quotes (of the deals in scope).",
            QUOTES_WRITE: "Create, send, decline and accept quotes (accepting places an order).",
            TASKS_READ: "See sales tasks.",
            TASKS_WRITE: "Create, complete and reschedule sales tasks.",
        },
        grants={
            "sales": [f"{p}@own" for p in _OWN],
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
                *(f"{p}@team" for p in _OWN),
                DEALS_MANAGE,
                LEADS_MANAGE,
            ],
            "marketing": [LEADS_READ, LEADS_WRITE],
            "integration": _OWN,
            "analyst": _READ,
            "readonly": _READ,
        },
    )


@hookimpl
async def crm_customer_merge(
    session: AsyncSession, survivor_id: int, merged_ids: list[int]
) -> dict[str, int]:
    """The merged customers' deals, tasks and converted leads become the survivor's; its
    company link stays (or it takes a merged customer's)."""
    moved = {"deals": await deals.merge(session, survivor_id, merged_ids)}
    moved.update(await leads.merge(session, survivor_id, merged_ids))
    moved["company_contacts"] = await companies.merge(session, survivor_id, merged_ids)
    return moved


@hookimpl
async def crm_customer_erase(session: AsyncSession, customer_id: int) -> None:
    """The leads the customer came from lose their personal data, tasks about it their notes,
    its deals' quotes their contact; its company link goes. Deals are business records: they
    stay with the erased customer (whose name and contact details the core removes), as
    orders do (see :mod:`crm_sales.privacy`)."""
    await privacy.erase(session, customer_id)


@hookimpl
async def crm_analytics_customer_features(
    app: AppContext, customer_ids: list[int], as_of: datetime
) -> dict[str, dict[int, float]]:
    """Feeds the analytics plugin's churn model, when analytics is enabled (see
    :mod:`crm_sales.features`)."""
    return await features.customer_features(app, customer_ids, as_of)


@hookimpl
async def crm_marketing_create_task(
    session: AsyncSession,
    customer_id: int,
    title: str,
    notes: str | None,
    due_at: datetime,
    owner_id: str | None,
) -> str:
    """A marketing automation's follow-up task (its CREATE_TASK action), when marketing is
    enabled: a task about the customer, in the automation run's unit of work."""
    return await tasks.task_for_automation(session, customer_id, title, notes, due_at, owner_id)


@hookimpl
async def crm_demo_data(app: AppContext, customer_ids: list[int], now: datetime, seed: int) -> str:
    """A pipeline with deals in every stage, leads from several sources, a company, tasks."""
    return await demo.seed(app, customer_ids, now, seed)


@hookimpl
async def crm_customer_export(session: AsyncSession, customer_id: int) -> dict:
    """Its leads, deals, quotes, tasks and company link (see :mod:`crm_sales.privacy`)."""
    return await privacy.export(session, customer_id)
