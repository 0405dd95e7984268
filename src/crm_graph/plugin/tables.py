"""Tables: how a plugin declares its own tables, the core rows they may point at, and the
column types that behave the same on SQLite and PostgreSQL.

Names say what they are: ``...Row`` is a core table's row (a sqlmodel class), ``...Column``
a column type; the GraphQL types of the same entities are in :mod:`crm_graph.plugin.types`.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel

from crm_graph.auth.models import CustomerConsent as ConsentRow
from crm_graph.db.batch_writes import insert_records
from crm_graph.db.models import Customer as CustomerRow
from crm_graph.db.models import Interaction as InteractionRow
from crm_graph.db.models import Order as OrderRow
from crm_graph.db.models import OrderLine as OrderLineRow
from crm_graph.db.models import Product as ProductRow
from crm_graph.db.models import utcnow
from crm_graph.db.queries import json_array_contains
from crm_graph.db.types import Json as JsonColumn
from crm_graph.db.types import Money as MoneyColumn
from crm_graph.db.types import UTCDateTime as UTCDateTimeColumn

__all__ = [
    "ConsentRow",
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
    "insert_records",
    "json_array_contains",
    "utcnow",
]
