"""GraphQL types and helpers: the core's types a plugin's fields return or extend, global IDs,
user errors, and what a field declares (the permission it requires, personal data).

``...Type`` is a GraphQL type (``CustomerType`` is the ``Customer`` of the schema); the row
behind it is :class:`crm_graph.plugin.tables.CustomerRow`.
"""

from __future__ import annotations

from crm_graph.auth.declare import AUTHENTICATED, personal_data, requires
from crm_graph.ids import from_global_id, to_global_id
from crm_graph.schema.lists import list_connection
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
from crm_graph.schema.types.enums import SortDirection
from crm_graph.schema.types.interaction import Interaction as InteractionType
from crm_graph.schema.types.order import Order as OrderType
from crm_graph.schema.types.product import Product as ProductType

__all__ = [
    "AUTHENTICATED",
    "Connection",
    "CustomerType",
    "InteractionType",
    "MoneyType",
    "Node",
    "OrderType",
    "ProductType",
    "SortDirection",
    "UserError",
    "from_global_id",
    "id_arg",
    "input_id",
    "list_connection",
    "money",
    "personal_data",
    "query_error",
    "requires",
    "to_global_id",
]
