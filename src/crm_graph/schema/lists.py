"""Turning a filtered SELECT into a Relay connection, for top-level and nested lists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from crm_graph.db import queries
from crm_graph.db.paging import Ordering, PageArgs, PagingError, Window, fetch_page, window
from crm_graph.schema.types.common import Connection, query_error, to_connection

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
