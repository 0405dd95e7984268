"""A fresh server process answers analytics fields from its very first requests.

The model modules (numpy, scipy) are imported on first use, in a worker thread; requests
arriving while that import runs must wait for it, never see a half-imported module.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx
from sqlalchemy import func, select

import crm_analytics
from crm_analytics.tables import AnalyticsCustomerScore
from crm_graph.db.migrate import upgrade
from crm_graph.demo import seed_demo
from crm_graph.plugin import open_app
from crm_graph.settings import Settings
from crm_graph.testing import auth_headers, server_process

CUSTOMERS = 100
FIRST_REQUESTS = 4
VALUES = (
    f"{{ customers(first: {CUSTOMERS}) {{ nodes {{ lifetimeValue {{ value {{ amount }} }} }} }} }}"
)


async def test_lifetime_value_answers_for_every_customer_in_the_first_requests(
    database_url: str,
) -> None:
    env = {"CRM_DATABASE_URL": database_url, "CRM_PLUGINS": "analytics", "CRM_ENV": "test"}
    async with open_app(Settings(database_url=database_url), plugins=[crm_analytics]) as app:
        await upgrade(app.engine, app.plugins)
        await seed_demo(app.engine, customers=CUSTOMERS, seed=4)
        trained = subprocess.run(
            [sys.executable, "-m", "crm_graph", "analytics", "train", "--as-of", "2026-11-01"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert trained.returncode == 0, trained.stderr
        async with app.read() as session:
            scored = await session.scalar(select(func.count()).select_from(AnalyticsCustomerScore))
    assert scored > CUSTOMERS // 2

    with server_process(env) as (url, _process):
        async with httpx.AsyncClient(base_url=url, headers=auth_headers(), timeout=60) as http:
            # Several first requests at once: each needs the model module the server has not
            # imported yet.
            responses = await asyncio.gather(
                *(http.post("/graphql", json={"query": VALUES}) for _ in range(FIRST_REQUESTS))
            )
    for response in responses:
        body = response.json()
        assert "errors" not in body, body["errors"][:3]
        nodes = body["data"]["customers"]["nodes"]
        assert len(nodes) == CUSTOMERS
        assert sum(node["lifetimeValue"] is not None for node in nodes) == scored
