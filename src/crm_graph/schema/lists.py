"""Turning a filtered SELECT into a Relay connection, for top-level and nested lists."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Select
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from crm_graph.db import queries
from crm_graph.db.paging import Ordering, PageArgs, PagingError, Window, fetch_page, window
from crm_graph.schema.types.common import Connection, query_error, to_connection
from crm_graph.schema.types.enums import ordering

DEFAULT_PAGE_SIZE = 20


def page_window(maximum: int, args: PageArgs, ordering: Ordering, model: Any) -> Window:
    """The window of a list's paging arguments (``PagingError`` when they are wrong)."""
    return window(args, ordering, model, min(DEFAULT_PAGE_SIZE, maximum), maximum)


def _window(info: Info, args: PageArgs, ordering: Ordering, model: Any) -> Any:
    try:
        return page_window(info.context.app.settings.max_page_size, args, ordering, model)
    except PagingError as exc:
        raise query_error(exc.code, str(exc), exc.field) from exc


async def connection(
    info: Info, stmt: Select[Any], model: Any, ordering: Ordering, args: PageArgs
) -> Connection[Any]:
    """One page of ``stmt``; ``totalCount`` runs its COUNT only when selected."""
    win = _window(info, args, ordering, model)
    async with info.context.app.read() as session:
        page = await fetch_page(session, stmt, model, ordering, win)
    info.context.loaders.prime(page.rows)

    async def count() -> int:
        async with info.context.app.read() as session:
            return await queries.count(session, stmt)

    return to_connection(page, count)


async def child_connection(
    info: Info,
    parent_id: int,
    pages: DataLoader[Any, Any],
    counts: DataLoader[int, int],
    model: Any,
    ordering: Ordering,
    args: PageArgs,
) -> Connection[Any]:
    """A page of one parent's children, batched with its siblings through DataLoaders."""
    win = _window(info, args, ordering, model)
    page = await pages.load((parent_id, ordering, win))
    info.context.loaders.prime(page.rows)
    return to_connection(page, lambda: counts.load(parent_id))


async def list_connection(
    info: Info,
    statement: Select[Any],
    model: Any,
    order_by: Any,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    nodes: Callable[[list[Any]], Awaitable[list[Any]]] | None = None,
) -> Connection[Any]:
    """A plugin's list as a Relay connection: one keyset page of ``statement`` (a
    ``select(model)`` with its filters) sorted by ``order_by``, an input with a ``field`` enum
    whose values are ``model``'s column names and a ``direction`` (:class:`SortDirection`).

    Paging arguments, cursors, the page size limit and ``totalCount`` behave as on the core's
    lists. ``nodes`` turns the page's rows into the values the connection's nodes resolve
    from (one call per page), when those are not the rows themselves.
    """
    page = await connection(
        info, statement, model, ordering(model, order_by), PageArgs(first, after, last, before)
    )
    if nodes is not None and page.edges:
        values = await nodes([edge.node for edge in page.edges])
        for edge, value in zip(page.edges, values, strict=True):
            edge.node = value
    return page
