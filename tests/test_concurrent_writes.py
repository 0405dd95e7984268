"""Many units of work at once in one process all commit, on SQLite too.

SQLite has one write lock, and its busy handler is not fair: a writer polling for it could
wait out the whole busy timeout while the other writers of its process take it in turn. The
writers of one process therefore queue for it first come first served
(``crm_graph.db.engine.write_session``); this load failed with "database is locked" before.
"""

from __future__ import annotations

import asyncio

from crm_graph.domain.customers import create_customer
from crm_graph.settings import Settings
from crm_graph.testing import app_client

WRITERS = 12
EACH = 60


async def test_twelve_writers_at_once_all_commit(settings: Settings) -> None:
    async with app_client(settings, plugins=[]) as client:

        async def writer(k: int) -> None:
            for i in range(EACH):
                async with client.app.state.crm.write() as session:
                    await create_customer(session, {"name": f"Writer{k} Number{i}"}, "US")

        await asyncio.gather(*(writer(k) for k in range(WRITERS)))
        found = await client.data("{ customers(first: 1) { totalCount } }")
    assert found["customers"]["totalCount"] == WRITERS * EACH
