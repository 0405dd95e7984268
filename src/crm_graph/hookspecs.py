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
    from crm_graph.plugin import AppContext, PluginMetadata, SchemaContribution, Storage
    from crm_graph.schema.context import RequestContext

hookspec = pluggy.HookspecMarker("crm_graph")


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
    contributors.
    """


@hookspec
def crm_request_context(context: RequestContext) -> Any:
    """Per-request state for this plugin, typically DataLoaders.

    Called once per request (and per WebSocket connection); the return value is available to
    resolvers as ``info.context.plugin_state[<plugin name>]``. Never share loaders between
    requests: they cache rows.
    """


@hookspec
def crm_startup(app: AppContext) -> Any:
    """Run when the server starts (write it as ``async def``; the core awaits it)."""


@hookspec
def crm_shutdown(app: AppContext) -> Any:
    """Run when the server stops, in reverse plugin order (``async def`` is awaited)."""
