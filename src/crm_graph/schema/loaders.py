"""Per-request DataLoaders: every nested list or reference costs one statement per level.

Created fresh for each request (they cache rows), never shared between requests.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

from crm_graph.auth.models import CustomerConsent
from crm_graph.contributions import NodeLookup
from crm_graph.db.engine import read_session
from crm_graph.db.models import Customer, Interaction, Order, OrderLine, Product
from crm_graph.db.paging import Ordering, Page, Window, count_children, fetch_child_pages
from crm_graph.events.models import EventRecord, WebhookAttempt
from crm_graph.schema.dataloader import Loader
from crm_graph.schema.plugin_fields import FieldLoaders

ChildKey = tuple[int, Ordering, Window]


def _by_id(
    engine: AsyncEngine, model: Any, key: InstrumentedAttribute[Any] | None = None
) -> Loader[Any, Any]:
    """Rows by primary key, or by another unique column ``key``."""
    column = model.id if key is None else key

    async def load(ids: Sequence[Any]) -> list[Any]:
        async with read_session(engine) as session:
            rows = {
                getattr(row, column.key): row
                for row in await session.scalars(select(model).where(column.in_(ids)))
            }
        return [rows.get(i) for i in ids]

    return Loader(load_fn=load)


def _grouped(
    engine: AsyncEngine, model: Any, parent: InstrumentedAttribute[Any]
) -> Loader[int, list[Any]]:
    async def load(ids: Sequence[int]) -> list[list[Any]]:
        grouped: dict[int, list[Any]] = defaultdict(list)
        async with read_session(engine) as session:
            for row in await session.scalars(
                select(model).where(parent.in_(ids)).order_by(model.id)
            ):
                grouped[getattr(row, parent.key)].append(row)
        return [grouped[i] for i in ids]

    return Loader(load_fn=load)


def _child_pages(
    engine: AsyncEngine, model: Any, parent: InstrumentedAttribute[Any]
) -> Loader[ChildKey, Page]:
    """Pages of children keyed by (parent id, ordering, window); one statement per distinct
    (ordering, window), which in practice is one statement for the whole level."""

    async def load(keys: Sequence[ChildKey]) -> list[Page]:
        groups: dict[tuple[Ordering, Window], list[int]] = defaultdict(list)
        for parent_id, ordering, win in keys:
            groups[(ordering, win)].append(parent_id)
        pages: dict[ChildKey, Page] = {}
        async with read_session(engine) as session:
            for (ordering, win), ids in groups.items():
                found = await fetch_child_pages(session, model, parent, ids, ordering, win)
                pages.update({(pid, ordering, win): page for pid, page in found.items()})
        return [pages[key] for key in keys]

    return Loader(load_fn=load)


def _child_counts(engine: AsyncEngine, parent: InstrumentedAttribute[Any]) -> Loader[int, int]:
    async def load(ids: Sequence[int]) -> list[int]:
        async with read_session(engine) as session:
            counts = await count_children(session, parent, ids)
        return [counts[i] for i in ids]

    return Loader(load_fn=load)


class Loaders:
    """The core loaders of one request."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.customer = _by_id(engine, Customer)
        self.product = _by_id(engine, Product)
        self.order = _by_id(engine, Order)
        self.interaction = _by_id(engine, Interaction)
        self.order_lines = _grouped(engine, OrderLine, OrderLine.order_id)
        self.customer_orders = _child_pages(engine, Order, Order.customer_id)
        self.customer_interactions = _child_pages(engine, Interaction, Interaction.customer_id)
        self.customer_order_count = _child_counts(engine, Order.customer_id)
        self.customer_interaction_count = _child_counts(engine, Interaction.customer_id)
        self.customer_consents = _grouped(engine, CustomerConsent, CustomerConsent.customer_id)
        self.event_by_uid = _by_id(engine, EventRecord, EventRecord.uid)
        self.webhook_attempts = _grouped(engine, WebhookAttempt, WebhookAttempt.delivery_id)
        self.fields = FieldLoaders(engine)  # plugin fields (the field contract)
        self._plugin_nodes: dict[str, Loader[int, Any]] = {}

        self._by_model: dict[type, Loader[int, Any]] = {
            Customer: self.customer,
            Product: self.product,
            Order: self.order,
            Interaction: self.interaction,
        }

    def by_type(self, type_name: str) -> Callable[[int], Awaitable[Any]] | None:
        """The by-id loader behind ``node(id:)`` for a core type name."""
        loader = next((lo for m, lo in self._by_model.items() if m.__name__ == type_name), None)
        return loader.load if loader else None

    def plugin_node(self, type_name: str, lookup: NodeLookup, context: Any) -> Loader[int, Any]:
        """The by-id loader behind ``node(id:)`` for a plugin type: one call of the plugin's
        lookup for all the IDs of the type a request asks for together."""
        loader = self._plugin_nodes.get(type_name)
        if loader is None:

            async def load(pks: Sequence[int]) -> list[Any]:
                return await lookup.load(context, list(pks))

            loader = self._plugin_nodes[type_name] = Loader(load_fn=load)
        return loader

    def prime(self, rows: Sequence[Any]) -> None:
        """Remember rows a list already fetched, so references to them cost no statement."""
        for row in rows:
            loader = self._by_model.get(type(row))
            if loader is not None:
                loader.prime(row.id, row)
