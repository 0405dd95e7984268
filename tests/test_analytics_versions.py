"""Models that live, on SQLite and PostgreSQL: every training run is a model version with its
data window, figures and timings; a run worse than the active version by more than the margin
is kept but not served (``analytics.model_rejected``); new orders start a training through
the scheduler.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import crm_analytics
from crm_graph.demo import seed_demo
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from tests.test_analytics_api import _train

HISTORY = "{ analyticsModels(history: true) }"


async def _versions(client: GraphQLClient) -> list[dict[str, Any]]:
    return (await client.data(HISTORY))["analyticsModels"]["versions"]


async def _events(client: GraphQLClient, kind: str) -> list[dict[str, Any]]:
    data = await client.data(
        "query($t: [String!]) { events(types: $t, first: 50) { nodes { type payload } } }",
        {"t": [kind]},
    )
    return data["events"]["nodes"]


async def test_a_worse_run_is_kept_in_the_history_but_not_served(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A negative margin asks each run to beat the active one by half: the same data cannot.
    monkeypatch.setenv("CRM_PLUGIN_ANALYTICS_REJECT_MARGIN", "-0.5")
    async with app_client(settings, plugins=[crm_analytics]) as shop:
        await seed_demo(shop.app.state.crm.engine, customers=100, seed=6)
        first = await _train(shop)
        assert first["status"] == "SUCCEEDED" and "rejected" not in first["message"]
        (active,) = await _versions(shop)
        assert active["status"] == "ACTIVE" and active["trigger"] == "manual"
        assert active["dataFrom"] < active["asOf"] and active["orders"] > 100
        assert active["customers"] > 50
        holdout = active["metrics"]["recommendations"]["holdout"]["ndcg@10"]
        assert 0 < holdout <= 1
        assert {"load", "churn", "recommendations", "store"} <= set(active["seconds"])
        served = (await shop.data("{ analyticsModels }"))["analyticsModels"]
        assert "versions" not in served

        second = await _train(shop)
        assert second["status"] == "SUCCEEDED"
        assert second["message"].startswith("rejected: recommendations ndcg@10")
        rejected, still = await _versions(shop)
        assert (rejected["status"], still["status"]) == ("REJECTED", "ACTIVE")
        assert still["version"] == active["version"] and rejected["version"] > still["version"]
        assert "below the active version's" in rejected["reason"]
        events = await _events(shop, "analytics.model_rejected")
        assert [e["payload"]["version"] for e in events] == [rejected["version"]]
        assert events[0]["payload"]["activeVersion"] == active["version"]
        # What is served is still the first run's.
        trained = await _events(shop, "analytics.trained")
        assert [e["payload"]["version"] for e in trained] == [active["version"]]


async def test_new_orders_start_a_training_through_the_scheduler(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_PLUGIN_ANALYTICS_RETRAIN_AFTER_ORDERS", "2")
    fast = settings.model_copy(update={"scheduler_poll_seconds": 0.2})
    async with app_client(fast, plugins=[crm_analytics]) as shop:
        await seed_demo(shop.app.state.crm.engine, customers=60, seed=8)
        assert (await _train(shop))["status"] == "SUCCEEDED"
        (first,) = await _versions(shop)
        data = await shop.data(
            "{ customers(first: 1) { nodes { id } } products(first: 1) { nodes { id } } }"
        )
        customer = data["customers"]["nodes"][0]["id"]
        product = data["products"]["nodes"][0]["id"]
        for _ in range(2):
            placed = await shop.data(
                "mutation($c: ID!, $p: ID!) { placeOrder(input: {customerId: $c, lines: "
                "[{productId: $p, quantity: 1}]}) { errors { code message } } }",
                {"c": customer, "p": product},
            )
            assert placed["placeOrder"]["errors"] == []
        deadline = time.monotonic() + 120
        while len(versions := await _versions(shop)) < 2:
            assert time.monotonic() < deadline, "no training after the new orders"
            await asyncio.sleep(0.2)
        newest = versions[0]
        assert newest["trigger"] == "orders" and newest["orders"] > first["orders"]
        assert newest["asOf"] > first["asOf"]
