"""The stable API for plugin authors. Plugins import from here and nowhere else in crm_graph.

A plugin is a module (or object) with hook implementations marked ``@hookimpl``, published
under the ``crm_graph.plugins`` entry-point group. See ``docs/plugins.md``.
"""

from __future__ import annotations

import pluggy
from sqlmodel import Field, SQLModel

from crm_graph.auth.declare import AUTHENTICATED, personal_data, requires
from crm_graph.auth.permissions import Permissions
from crm_graph.contributions import (
    EXTENDABLE_TYPES,
    EventType,
    PluginMetadata,
    SchemaContribution,
    Storage,
)
from crm_graph.db.models import Customer, Interaction, Order, OrderLine, Product, utcnow
from crm_graph.db.types import Json, Money, UTCDateTime
from crm_graph.domain.errors import Collector, FieldError, ValidationFailed, fail
from crm_graph.events.models import EventRecord
from crm_graph.events.outbox import emit
from crm_graph.hookspecs import hookspec
from crm_graph.ids import from_global_id, to_global_id
from crm_graph.runtime import AppContext, open_app
from crm_graph.schema.context import RequestContext
from crm_graph.schema.mutations.base import perform
from crm_graph.schema.types.common import (
    Connection,
    Node,
    UserError,
    id_arg,
    input_id,
    money,
    query_error,
)
from crm_graph.schema.types.common import Money as MoneyType
from crm_graph.schema.types.customer import Customer as CustomerType
from crm_graph.schema.types.interaction import Interaction as InteractionType
from crm_graph.schema.types.order import Order as OrderType
from crm_graph.schema.types.product import Product as ProductType

hookimpl = pluggy.HookimplMarker("crm_graph")

__all__ = [
    "AUTHENTICATED",
    "EXTENDABLE_TYPES",
    "AppContext",
    "Collector",
    "Connection",
    "Customer",
    "CustomerType",
    "EventRecord",
    "EventType",
    "Field",
    "FieldError",
    "Interaction",
    "InteractionType",
    "Json",
    "Money",
    "MoneyType",
    "Node",
    "Order",
    "OrderLine",
    "OrderType",
    "Permissions",
    "PluginMetadata",
    "Product",
    "ProductType",
    "RequestContext",
    "SQLModel",
    "SchemaContribution",
    "Storage",
    "UTCDateTime",
    "UserError",
    "ValidationFailed",
    "emit",
    "fail",
    "from_global_id",
    "hookimpl",
    "hookspec",
    "id_arg",
    "input_id",
    "money",
    "open_app",
    "perform",
    "personal_data",
    "query_error",
    "requires",
    "to_global_id",
    "utcnow",
]
