"""The stable API for plugin authors. Plugins import from here and nowhere else in crm_graph.

A plugin is a module (or object) with hook implementations marked ``@hookimpl``, published
under the ``crm_graph.plugins`` entry-point group. See ``docs/plugins.md``.

Every name lives in one group, a submodule named after it, and is re-exported here:

- :mod:`~crm_graph.plugin.markers`: ``hookimpl`` and ``hookspec``;
- :mod:`~crm_graph.plugin.contributions`: what hooks return (metadata, storage, schema,
  event types, permissions);
- :mod:`~crm_graph.plugin.app`: the running app and the per-request context;
- :mod:`~crm_graph.plugin.tables`: a plugin's own tables, the core rows (``...Row``) and column
  types (``...Column``);
- :mod:`~crm_graph.plugin.types`: GraphQL types of the core (``...Type``), IDs, user errors and
  field declarations;
- :mod:`~crm_graph.plugin.fields`: the field contract (table-backed and batch fields);
- :mod:`~crm_graph.plugin.domain`: the unit of work and typed user errors;
- :mod:`~crm_graph.plugin.events`: emitting events and the stored event handlers receive;
- :mod:`~crm_graph.plugin.data`: import and export kinds (``crm_data_kinds``) and what their
  checks, writes and exports are written with.
"""

from __future__ import annotations

from crm_graph.plugin.app import AppContext, RequestContext, open_app
from crm_graph.plugin.contributions import (
    EXTENDABLE_TYPES,
    EventType,
    Permissions,
    PluginMetadata,
    SchemaContribution,
    Storage,
)
from crm_graph.plugin.data import (
    INSERTED,
    UNCHANGED,
    UPDATED,
    BatchResult,
    Checked,
    Columns,
    CustomerRefs,
    DataKind,
    ImportContext,
    Outcome,
    find_customers,
    rejected,
    write_records,
)
from crm_graph.plugin.domain import Collector, FieldError, ValidationFailed, fail, perform
from crm_graph.plugin.events import EventRecord, emit
from crm_graph.plugin.fields import Related, RelatedRows, batch_field, load_related, table_field
from crm_graph.plugin.markers import hookimpl, hookspec
from crm_graph.plugin.tables import (
    CustomerRow,
    Field,
    InteractionRow,
    JsonColumn,
    MoneyColumn,
    OrderLineRow,
    OrderRow,
    ProductRow,
    SQLModel,
    UTCDateTimeColumn,
    utcnow,
)
from crm_graph.plugin.types import (
    AUTHENTICATED,
    Connection,
    CustomerType,
    InteractionType,
    MoneyType,
    Node,
    OrderType,
    ProductType,
    UserError,
    from_global_id,
    id_arg,
    input_id,
    money,
    personal_data,
    query_error,
    requires,
    to_global_id,
)

# The public surface in its groups, in the order of the docs (tests check it against them).
__all__ = [  # noqa: RUF022 (grouped, not sorted)
    # markers
    "hookimpl",
    "hookspec",
    # contributions
    "EXTENDABLE_TYPES",
    "EventType",
    "Permissions",
    "PluginMetadata",
    "SchemaContribution",
    "Storage",
    # app
    "AppContext",
    "RequestContext",
    "open_app",
    # tables
    "CustomerRow",
    "Field",
    "InteractionRow",
    "JsonColumn",
    "MoneyColumn",
    "OrderLineRow",
    "OrderRow",
    "ProductRow",
    "SQLModel",
    "UTCDateTimeColumn",
    "utcnow",
    # types
    "AUTHENTICATED",
    "Connection",
    "CustomerType",
    "InteractionType",
    "MoneyType",
    "Node",
    "OrderType",
    "ProductType",
    "UserError",
    "from_global_id",
    "id_arg",
    "input_id",
    "money",
    "personal_data",
    "query_error",
    "requires",
    "to_global_id",
    # fields
    "Related",
    "RelatedRows",
    "batch_field",
    "load_related",
    "table_field",
    # domain
    "Collector",
    "FieldError",
    "ValidationFailed",
    "fail",
    "perform",
    # events
    "EventRecord",
    "emit",
    # data
    "DataKind",
    "Columns",
    "ImportContext",
    "Checked",
    "Outcome",
    "BatchResult",
    "INSERTED",
    "UPDATED",
    "UNCHANGED",
    "rejected",
    "CustomerRefs",
    "find_customers",
    "write_records",
]
