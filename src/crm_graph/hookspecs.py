"""Every hook a crm-graph plugin can implement, one docstring each.

Hooks are synchronous and return *contributions* (classes, dataclasses) at startup. Anything
asynchronous is written as an ``async def`` hook implementation: pluggy returns its coroutine
and the core awaits it. ``docs/plugins.md`` documents each hook with an example; a test fails
when a hook here is missing there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from datetime import datetime

    import typer
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
    )
    from crm_graph.schema.context import RequestContext

PROJECT = "crm_graph"  # pluggy's project name: markers and the manager must agree
hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def crm_plugin_metadata() -> PluginMetadata:
    """Name, version, the core versions it works with and an optional settings model.

    Required. The core refuses to start when the running core version is outside
    ``requires_core``, naming the plugin. The settings model (a pydantic ``BaseModel``) is read
    from ``CRM_PLUGIN_<NAME>_*`` environment variables and validated at startup.
    """


@hookspec
def crm_storage() -> Storage:
    """The plugin's own tables and the folder of its Alembic migrations (its own branch).

    Tables use the plugin's prefix and may hold foreign keys to core rows; they never alter
    core tables. ``crm-graph migrate`` upgrades the core branch and every plugin branch.
    """


@hookspec
def crm_schema() -> SchemaContribution:
    """GraphQL contributions: standalone types and fields added onto existing types.

    ``extend`` maps a type name (``Customer``, ``Order``, ``Interaction``, ``Product``,
    ``Query``, ``Mutation``, ``Subscription``) to strawberry classes whose fields are merged
    onto that type. A field whose GraphQL name is already taken stops startup, naming both
    contributors. ``nodes`` maps the plugin's own ``Node`` types to a ``RowLookup`` (rows of a
    table; also what a ``lookup_field`` declares) or a ``NodeLookup`` (anything else): how
    ``node(id:)`` and ``nodes(ids:)`` find them, within the caller's scope.
    """


@hookspec
def crm_request_context(context: RequestContext) -> Any:
    """Per-request state for this plugin.

    Called once per request (and per WebSocket connection); the return value is available to
    resolvers as ``info.context.plugin_state[<plugin name>]``. Fields need none: the field
    contract (``table_field``, ``batch_field``) batches their reads per request already.
    Never share state that caches rows between requests.
    """


@hookspec
def crm_startup(app: AppContext) -> Any:
    """Run when the server starts (write it as ``async def``; the core awaits it)."""


@hookspec
def crm_shutdown(app: AppContext) -> Any:
    """Run when the server stops, in reverse plugin order (``async def`` is awaited)."""


@hookspec
def crm_event_types() -> list[EventType]:
    """The event types this plugin emits, each with the JSON Schema of its payload.

    They are listed by ``Query.eventTypes``. A name declared twice (by core or another plugin)
    stops startup naming both. Emit them with ``crm_graph.plugin.emit(session, ...)`` inside
    the unit of work that makes the change, so the event commits (or rolls back) with it.
    """


@hookspec
def crm_event(event: EventRecord, app: AppContext) -> Any:
    """Called after commit for every event in the log, in log order (``async def`` is awaited).

    Each plugin has its own durable position in the log: the handler runs at least once per
    event, in one server process at a time, and resumes after a restart. Errors are isolated:
    an exception is logged and the plugin moves on; other plugins and requests never see it.
    """


@hookspec
def crm_add_hookspecs(plugin_manager: pluggy.PluginManager) -> None:
    """Declare hooks of this plugin's own, for other plugins to implement.

    Called once, after every enabled plugin is registered, in plugin order. Call
    ``plugin_manager.add_hookspecs(module)`` with a module of functions marked
    ``@crm_graph.plugin.hookspec`` (the same pattern as pytest's ``pytest_addhooks``), and call
    the hook through pluggy's relay: ``app.plugins.each(app.plugins.hook.<name>, ...)`` gives
    each result with its plugin's name (``app.plugins.hook.<name>(...)`` the bare results).
    Implementations of a hook whose declaring plugin is not enabled are simply never called.
    """


@hookspec
def crm_cli(cli: typer.Typer) -> None:
    """Add commands to the ``crm-graph`` command line, e.g. ``cli.add_typer(group, name=...)``.

    Called by ``crm-graph`` at start for the enabled plugins, before the arguments are parsed.
    Commands open their own app with ``crm_graph.plugin.open_app()``, as complete as the
    server's (settings, engine, plugins, ``events``, ``auth``; the event service is not
    started); a command name already taken by the core or another plugin stops the command
    line, naming the plugin.
    """


@hookspec
def crm_data_kinds() -> list[DataKind]:
    """Kinds of records this plugin's tables hold, for ``crm-graph import KIND FILE`` and
    ``crm-graph export KIND``, next to the core's customers, products, orders, interactions.

    Each ``DataKind`` names its file columns (``Columns``: required, optional), a ``check`` of a
    batch of items that needs no database (it runs in the process reading the file ahead),
    a ``write`` of a checked batch inside the import's transaction, saying per item
    ``inserted``, ``updated``, ``unchanged`` or rejected with its errors (rejected rows go to
    ``FILE.rejects.csv``), and an ``export`` writing every record in the same columns, so an
    export imports back the same. The functions must be module-level (they are pickled by
    name). A kind name already taken by the core or another plugin stops the command,
    naming both.
    """


@hookspec
def crm_permissions() -> Permissions:
    """The permissions this plugin's fields require, and which roles get them.

    Return ``Permissions(declare={"loyalty:write": "Award points."}, grants={"sales":
    ["loyalty:write@own"]})``. A permission declared twice (by core or another plugin) stops
    startup naming both; a grant of an undeclared permission stops it too. ``CRM_ROLES`` can
    still replace any role's grants. Declare what a field needs with
    ``metadata=requires("loyalty:write")`` (see ``crm_graph.plugin``).
    """


@hookspec
def crm_routes() -> list[PluginRoute]:
    """HTTP routes this plugin serves under ``/p/<plugin name>/`` (e.g. a survey link).

    Each ``PluginRoute`` gives a path relative to that prefix, its methods (GET, POST), the
    permission it needs (a permission name, ``AUTHENTICATED`` or ``PUBLIC``: no credential, the
    route checks a token of its own) and an ``async (request, context)`` endpoint. Routes get
    ``/graphql``'s body limit, rate limits, CORS policy and error handling. A path that leaves
    the prefix, a method other than GET or POST, a path declared twice or a permission nobody
    declares stops startup, naming the plugin.
    """


@hookspec
def crm_customer_export(session: AsyncSession, customer_id: int) -> Any:
    """This plugin's data about one customer, for ``exportCustomerData`` (GDPR access).

    Write it as ``async def``; return a JSON-serialisable dict. It appears under
    ``plugins.<name>`` of the export. Without this hook the rows of the plugin's tables whose
    ``customer_id`` points at the customer are exported as they are.
    """


@hookspec
def crm_customer_erase(session: AsyncSession, customer_id: int) -> Any:
    """Irreversibly remove or anonymise this plugin's personal data about one customer.

    Write it as ``async def``; it runs inside the ``eraseCustomer`` transaction (``session``),
    once for the customer and once for each customer merged into it. Without this hook the
    rows of the plugin's tables whose ``customer_id`` points at the customer are deleted.
    """


@hookspec
def crm_customer_merge(session: AsyncSession, survivor_id: int, merged_ids: list[int]) -> Any:
    """Move this plugin's rows from the merged customers to the survivor (``mergeCustomers``).

    Write it as ``async def``; it runs inside the merge transaction (``session``), before the
    merged customers are soft-deleted, and must write only through that session: a dry run
    is the same call in a transaction that is rolled back. Return a dict of counts, e.g.
    ``{"loyalty_accounts": 2}``; it appears in the merge plan. Resolve your own conflicts
    (one row per customer, say) here. Side effects outside the database belong in a
    ``crm_event`` handler for ``customer.merged``, which only runs once the merge commits.
    """


@hookspec
def crm_demo_data(app: AppContext, seed: int, now: datetime, customer_ids: list[int]) -> Any:
    """Add this plugin's demo data, after the core's (``crm-graph demo``, ``make demo``).

    Write it as ``async def``; it is awaited, plugin after plugin, once the core's demo rows are
    committed, each time ``crm-graph demo`` runs, so running it again must not duplicate rows.
    ``customer_ids`` are the demo customers (``demo-0001`` first), ``now`` is the end of the
    demo's history (its orders and contacts lie in the two years before), ``seed`` the demo's
    random seed: draw from it to stay deterministic. Read and write through ``app.read()``/``app.write()``.
    Return a one-line summary (or ``None``); the command prints it after the plugin's name.
    """


@hookspec
def crm_scheduled_jobs(app: AppContext) -> list[ScheduledJob]:
    """The jobs this plugin runs in the background (``crm_graph.plugin.scheduler``).

    Each ``ScheduledJob`` names an ``async def function(app, run)``: with a ``schedule`` (a
    cron expression in UTC, or a ``timedelta``) it runs periodically; without one it runs when
    the plugin's code calls ``schedule_once(session, plugin, name, at, payload, key=...)``.
    Called once when the server starts its scheduler; read your settings from ``app`` to
    choose a schedule. Each run is taken by one server process at a time, retried with
    backoff when it raises, and run again when its process dies mid-way.
    """
