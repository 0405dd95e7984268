"""Plugins' demo data: each enabled plugin's ``crm_demo_data``, awaited after the core's rows."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from sqlalchemy import select

from crm_graph.db.models import Customer
from crm_graph.demo.rows import EXTERNAL_ID_PREFIX
from crm_graph.demo.timeline import NOW

if TYPE_CHECKING:
    from crm_graph.runtime import AppContext


async def plugin_demo_data(app: AppContext, seed: int) -> list[str]:
    """Let each plugin seed its demo rows, in plugin order; ``"<plugin>: <summary>"`` lines."""
    async with app.read() as session:
        customer_ids = list(
            await session.scalars(
                select(Customer.id)
                .where(Customer.external_id.startswith(EXTERNAL_ID_PREFIX, autoescape=True))
                .order_by(Customer.external_id)
            )
        )
    lines = []
    hook = app.plugins.hook.crm_demo_data
    for name, result in app.plugins.each(
        hook, app=app, seed=seed, now=NOW, customer_ids=customer_ids
    ):
        summary = await result if inspect.isawaitable(result) else result
        if summary:
            lines.append(f"{name}: {summary}")
    return lines
