"""The registry of kinds: for each kind of record that can be imported and exported, its
columns, the checks that need no database, the batch write and the export.

The core's four kinds are here; an enabled plugin adds its own through ``crm_data_kinds``.
``crm-graph import KIND FILE`` and ``crm-graph export KIND`` look a kind up here and nowhere
else. A kind's functions are module-level: they cross to the process reading the file ahead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession

from crm_graph.domain import customer_imports, interaction_imports, order_imports, product_imports
from crm_graph.domain.batches import BatchResult, Checked
from crm_graph.io import exporters
from crm_graph.io.rows import CUSTOMERS, INTERACTIONS, ORDERS, PRODUCTS, Columns
from crm_graph.settings import Settings

if TYPE_CHECKING:
    from crm_graph.plugins_manager import PluginSet


@dataclass(frozen=True)
class ImportContext:
    """What an import's checks and writes may depend on besides the rows: the core settings,
    whether absent customers may be created from references, and each plugin's settings."""

    settings: Settings
    create_customers: bool = True
    plugin_settings: Mapping[str, Any] = field(default_factory=dict)


Check = Callable[[list[dict[str, Any]], ImportContext], Checked]
Write = Callable[[AsyncSession, Checked, ImportContext], Awaitable[BatchResult]]
Export = Callable[[AsyncSession, TextIO, str, datetime | None], Awaitable[int]]


@dataclass(frozen=True)
class DataKind:
    """One kind of record, imported from and exported to CSV or JSON Lines.

    ``check(items, context)`` runs without a database (in the reading process); ``write(session,
    checked, context)`` writes a checked batch in the import's transaction and says what
    happened to each item; ``export(session, out, format, since)`` writes every record (changed
    since ``since``) in the import's columns and returns how many. ``grouped``: rows sharing an
    ``order_number`` are one item, a line each (orders). ``independent`` and ``ahead`` let a
    batch be written while the one before it still is (PostgreSQL): whether two batches share
    nothing, and creating ahead, committed on their own, the customers a batch would create.
    """

    name: str
    columns: Columns
    check: Check
    write: Write
    export: Export
    grouped: bool = False
    independent: (
        Callable[[AsyncSession, Checked, Checked, ImportContext], Awaitable[bool]] | None
    ) = None
    ahead: Callable[[AsyncSession, Checked, ImportContext], Awaitable[int]] | None = None


# --- the core's kinds: the domain's batch functions, given what they need of the context ---


def check_customers(items: list[dict[str, Any]], context: ImportContext) -> Checked:
    return customer_imports.check_customers(items, context.settings.default_phone_region)


async def write_customers(
    session: AsyncSession, checked: Checked, context: ImportContext
) -> BatchResult:
    return await customer_imports.write_customers(
        session, checked, context.settings.default_phone_region
    )


def check_products(items: list[dict[str, Any]], context: ImportContext) -> Checked:
    return product_imports.check_products(items)


async def write_products(
    session: AsyncSession, checked: Checked, context: ImportContext
) -> BatchResult:
    return await product_imports.write_products(session, checked, context.settings.default_currency)


def check_interactions(items: list[dict[str, Any]], context: ImportContext) -> Checked:
    return interaction_imports.check_interactions(items)


async def write_interactions(
    session: AsyncSession, checked: Checked, context: ImportContext
) -> BatchResult:
    return await interaction_imports.write_interactions(session, checked, context.create_customers)


def check_orders(items: list[dict[str, Any]], context: ImportContext) -> Checked:
    return order_imports.check_orders(items, context.settings.default_currency)


async def write_orders(
    session: AsyncSession, checked: Checked, context: ImportContext
) -> BatchResult:
    return await order_imports.write_orders(session, checked, context.create_customers)


async def orders_independent(
    session: AsyncSession, earlier: Checked, later: Checked, context: ImportContext
) -> bool:
    return await order_imports.orders_independent(session, earlier, later, context.create_customers)


async def create_customers_ahead(
    session: AsyncSession, checked: Checked, context: ImportContext
) -> int:
    return await order_imports.create_customers_ahead(session, checked, context.create_customers)


CORE_KINDS = (
    DataKind("customers", CUSTOMERS, check_customers, write_customers, exporters.export_customers),
    DataKind("products", PRODUCTS, check_products, write_products, exporters.export_products),
    DataKind(
        "orders",
        ORDERS,
        check_orders,
        write_orders,
        exporters.export_orders,
        grouped=True,
        independent=orders_independent,
        ahead=create_customers_ahead,
    ),
    DataKind(
        "interactions",
        INTERACTIONS,
        check_interactions,
        write_interactions,
        exporters.export_interactions,
    ),
)


class KindConflict(ValueError):
    """Two contributors declare a kind of one name."""


def data_kinds(plugins: PluginSet | None = None) -> dict[str, DataKind]:
    """Every kind by name: the core's, then the enabled plugins' (``crm_data_kinds``), in
    plugin order. A name declared twice raises :class:`KindConflict` naming both."""
    kinds = {kind.name: kind for kind in CORE_KINDS}
    owners = dict.fromkeys(kinds, "core")
    for plugin, contributed in plugins.each(plugins.hook.crm_data_kinds) if plugins else ():
        for kind in contributed:
            if kind.name in kinds:
                raise KindConflict(
                    f"import/export kind {kind.name!r} is declared by both "
                    f"{owners[kind.name]} and plugin {plugin!r}"
                )
            kinds[kind.name], owners[kind.name] = kind, f"plugin {plugin!r}"
    return kinds


def import_context(
    settings: Settings, create_customers: bool, plugins: PluginSet | None = None
) -> ImportContext:
    """The context of an import: the settings of the core and of every enabled plugin."""
    return ImportContext(
        settings,
        create_customers,
        {p.name: p.settings for p in plugins.plugins} if plugins else {},
    )
