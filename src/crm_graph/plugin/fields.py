"""The field contract: how a field a plugin adds is declared (see ``docs/plugins.md``,
"Declaring fields: the field contract").

A field is table-backed (``table_field`` over a ``Related`` row or ``RelatedRows``, declared as
data) or a batch field (``batch_field``: one function for all parents of a level); a batch
function reads relations with ``load_related``. A list on Query is a ``list_field``: a
connection over a table's rows, declared as the table, the statement its filter selects, its
``orderBy`` input and the permission whose scope narrows the rows to their owners'; a statement
comparing with the time of the request reads it as ``request_time(column)``. A short list of
every row, without paging, is a ``rows_field``. One row by global ID is a ``lookup_field``
over a ``RowLookup`` (the table, the permission whose scope narrows the rows, optionally the
statement to read from), which also tells ``node(id:)`` how to find the type. A value on
Query computed on demand (a report) is a ``query_field``: one function called once per
request with the arguments.
"""

from __future__ import annotations

from crm_graph.db.related import Related, RelatedRows
from crm_graph.schema.plugin_fields import (
    RowLookup,
    batch_field,
    list_field,
    load_related,
    lookup_field,
    query_field,
    request_time,
    rows_field,
    table_field,
)

__all__ = [
    "Related",
    "RelatedRows",
    "RowLookup",
    "batch_field",
    "list_field",
    "load_related",
    "lookup_field",
    "query_field",
    "request_time",
    "rows_field",
    "table_field",
]
