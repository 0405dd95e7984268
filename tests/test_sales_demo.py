"""The sales plugin around the core: ``crm-graph demo`` seeds its data once, and the analytics
plugin's churn model takes its customer features when both are enabled (and does without
them when sales is not). SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import crm_analytics
import crm_sales
from crm_graph.demo import NOW, seed_demo
from crm_graph.plugin import from_global_id
from crm_graph.settings import Settings
from crm_graph.testing import app_client
from tests.test_analytics_api import _churn_model

DEALS_BY_STAGE = "{ deals(first: 100) { totalCount nodes { stage { name } } } }"


def _demo(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crm_graph", "demo", "--customers", "30", "--seed", "4"],
        env={**os.environ, "CRM_DATABASE_URL": url, "CRM_PLUGINS": "sales"},
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_demo_seeds_deals_in_every_stage_leads_and_tasks_once(settings: Settings) -> None:
    async with app_client(settings, plugins=[crm_sales]) as client:
        first = await asyncio.to_thread(_demo, settings.database_url)
        assert first.returncode == 0, first.stderr
        assert "sales: 21 deals in every stage, 12 leads, 1 company, 6 tasks" in first.stderr
        data = (await client.data(DEALS_BY_STAGE))["deals"]
        pipeline = await client.data("{ salesPipelines { stages { name } } }")
        every = {s["name"] for s in pipeline["salesPipelines"][0]["stages"]}
        assert {n["stage"]["name"] for n in data["nodes"]} == every
        sources = await client.data("{ leads(first: 100) { nodes { source } } }")
        assert len({n["source"] for n in sources["leads"]["nodes"]}) == 5
        tasks = await client.data("{ salesTasks { totalCount } }")
        assert tasks["salesTasks"]["totalCount"] == 6

        again = await asyncio.to_thread(_demo, settings.database_url)
        assert again.returncode == 0, again.stderr
        assert "sales: already seeded" in again.stderr
        assert (await client.data(DEALS_BY_STAGE))["deals"]["totalCount"] == data["totalCount"]


async def test_the_churn_model_takes_the_sales_features_when_both_plugins_are_on(
    settings: Settings,
) -> None:
    async with app_client(settings, plugins=[crm_analytics, crm_sales]) as client:
        app = client.app.state.crm
        await seed_demo(app.engine, customers=150, seed=3)
        ids = [
            c["id"]
            for c in (await client.data("{ customers(first: 100) { nodes { id } } }"))["customers"][
                "nodes"
            ]
        ]
        pks = sorted(from_global_id(i)[1] for i in ids)
        # the sales plugin's demo data only (the hook would also run analytics' training)
        summary = await crm_sales.crm_demo_data(app=app, customer_ids=pks, now=NOW, seed=3)
        assert "deals in every stage" in summary
        features_on, _scores = await _churn_model(client)
    async with app_client(settings, plugins=[crm_analytics], migrate=False) as client:
        features_off, _scores = await _churn_model(client)
    sales_features = [f for f in features_on if f.startswith("sales.")]
    assert sorted(sales_features) == [
        "sales.days_since_sales_activity",
        "sales.deals_lost_90d",
        "sales.open_deal_value",
    ]
    assert not [f for f in features_off if f.startswith("sales.")]
