"""Plugin tables that point at customers (a ``customer_id`` foreign key to ``customer.id``).

A plugin that implements no ``crm_customer_merge``, ``crm_customer_export`` or
``crm_customer_erase`` hook still takes part in each: these rows move to a merge's survivor,
are exported as they are and are deleted on erasure, so no plugin's data is left behind.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from crm_graph.db.migrate import storages
from crm_graph.plugins_manager import PluginSet


def linked_tables(plugins: PluginSet, skip: Collection[str]) -> list[tuple[str, Any]]:
    """(plugin, model) for the tables of plugins not in ``skip`` with a ``customer_id``
    foreign key, children first."""
    found = []
    for plugin, storage in storages(plugins):
        if plugin in skip:
            continue
        for model in storage.tables:
            column = model.__table__.columns.get("customer_id")
            if column is not None and any(
                fk.target_fullname == "customer.id" for fk in column.foreign_keys
            ):
                found.append((plugin, model))
    return found
