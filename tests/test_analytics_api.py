"""The analytics plugin over GraphQL, on SQLite and PostgreSQL: training as a background job,
stored scores on Customer and Product, chart data on Query, and what happens before training.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

import crm_analytics
import crm_loyalty
from crm_analytics import jobs
from crm_analytics.store import create_job
from crm_analytics.tables import AnalyticsJob
from crm_graph.demo import seed_demo
from crm_graph.plugin import (
    EventRecord,
    OrderRow,
    PluginMetadata,
    hookimpl,
    to_global_id,
    utcnow,
)
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, count_statements
from crm_loyalty.models import LoyaltyEntry

AS_OF = "2026-11-01T23:59:59+00:00"
CUSTOMER_FIELDS = """
  rfm { recencyDays frequency monetary { amount currency } r f m segment }
  lifetimeValue { value { amount currency } historicalValue { amount } expectedPurchases
                  expectedAverageOrderValue { amount } probabilityAlive }
  churnRisk { probability band factors { name impact } }
  segment { id name description customers }
  recommendations(first: 3) { product { id name category } score reason }
"""


@pytest.fixture
async def analytics(settings: Settings) -> AsyncIterator[GraphQLClient]:
    """An app with the analytics plugin on a migrated database holding demo data."""
    async with app_client(settings, plugins=[crm_analytics]) as client:
        await seed_demo(client.app.state.crm.engine, customers=150, seed=3)
        yield client


async def _train(client: GraphQLClient, **input: Any) -> dict[str, Any]:
    started = await client.data(
        "mutation($input: TrainAnalyticsModelsInput) { trainAnalyticsModels(input: $input) "
        "{ job { id status progress asOf } errors { code message field } } }",
        {"input": {"asOf": AS_OF, **input}},
    )
    payload = started["trainAnalyticsModels"]
    assert payload["errors"] == []
    job_id = payload["job"]["id"]
    for _ in range(600):
        job = (
            await client.data(
                "query($id: ID!) { analyticsJob(id: $id) { id status progress message } }",
                {"id": job_id},
            )
        )["analyticsJob"]
        if job["status"] in ("SUCCEEDED", "FAILED"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"training did not finish: {job}")


async def test_untrained_fields_are_null_with_a_clear_error(analytics: GraphQLClient) -> None:
    result = await analytics.execute(
        f"{{ customers(first: 2) {{ nodes {{ name {CUSTOMER_FIELDS} }} }} clvModel {{ asOf }} }}"
    )
    nodes = result["data"]["customers"]["nodes"]
    assert [n["rfm"] for n in nodes] == [None, None]
    assert result["data"]["clvModel"] is None
    codes = {e["extensions"]["code"] for e in result["errors"]}
    assert codes == {"NOT_TRAINED"}
    messages = {e["path"][-1]: e["message"] for e in result["errors"]}
    assert "trainAnalyticsModels" in messages["clvModel"]
    assert "crm-graph analytics train" in messages["churnRisk"]


async def test_training_job_scores_customers_and_products(analytics: GraphQLClient) -> None:
    job = await _train(analytics)
    assert job["status"] == "SUCCEEDED", job
    assert job["progress"] == 1.0
    assert "clv" in job["message"] and "not trained" not in job["message"]

    data = await analytics.data(
        f"{{ customers(first: 40) {{ nodes {{ id name {CUSTOMER_FIELDS} }} }} }}"
    )
    scored = [n for n in data["customers"]["nodes"] if n["rfm"] is not None]
    assert len(scored) > 20
    for node in scored:
        rfm = node["rfm"]
        assert all(1 <= rfm[k] <= 5 for k in "rfm")
        assert rfm["monetary"]["currency"] == "USD"
        value = node["lifetimeValue"]
        assert 0.0 <= value["probabilityAlive"] <= 1.0
        assert value["expectedPurchases"] >= 0
        assert float(value["value"]["amount"]) >= 0
        assert float(value["historicalValue"]["amount"]) > 0
        risk = node["churnRisk"]
        assert 0.0 <= risk["probability"] <= 1.0
        assert risk["band"] in ("LOW", "MEDIUM", "HIGH")
        assert len(risk["factors"]) == 3
        assert node["segment"]["name"] and node["segment"]["description"].startswith(
            "Customers who"
        )
        recommendations = node["recommendations"]
        assert len(recommendations) == 3
        assert all(r["reason"] for r in recommendations)
        assert [r["score"] for r in recommendations] == sorted(
            (r["score"] for r in recommendations), reverse=True
        ) or any(not r["reason"].startswith("bought with") for r in recommendations)
    assert any(r["reason"].startswith("bought with ") for n in scored for r in n["recommendations"])
    # A customer never gets a product recommended that they already bought.
    some = scored[0]
    bought = await analytics.data(
        "query($id: ID!) { customer(id: $id) { orders(first: 100) { nodes { lines "
        "{ product { id } } } } } }",
        {"id": some["id"]},
    )
    owned = {
        line["product"]["id"]
        for order in bought["customer"]["orders"]["nodes"]
        for line in order["lines"]
    }
    assert not owned & {r["product"]["id"] for r in some["recommendations"]}

    products = await analytics.data(
        "{ products(first: 5) { nodes { name similarProducts(first: 4) "
        "{ product { name } score reason } } } }"
    )
    for product in products["products"]["nodes"]:
        similar = product["similarProducts"]
        assert 1 <= len(similar) <= 4
        assert product["name"] not in {s["product"]["name"] for s in similar}


async def _award_points_per_order(client: GraphQLClient) -> None:
    """Loyalty history as a shop would have it: 10 points for every order of every other
    customer, awarded when the order was placed (so a balance at a past date is known)."""
    async with client.app.state.crm.write() as session:
        orders = await session.execute(select(OrderRow.customer_id, OrderRow.placed_at))
        for customer_id, placed_at in orders:
            if customer_id % 2 == 0:
                session.add(
                    LoyaltyEntry(
                        customer_id=customer_id, points=10, reason="order", created_at=placed_at
                    )
                )


async def _churn_model(client: GraphQLClient) -> tuple[list[str], dict[str, float]]:
    """The churn model's features and every scored customer's churn probability."""
    job = await _train(client)
    assert job["status"] == "SUCCEEDED", job
    features = (await client.data("{ analyticsModels }"))["analyticsModels"]["churn"]["features"]
    data = await client.data("{ customers(first: 100) { nodes { id churnRisk { probability } } } }")
    scores = {
        n["id"]: n["churnRisk"]["probability"]
        for n in data["customers"]["nodes"]
        if n["churnRisk"] is not None
    }
    return features, scores


async def test_a_partner_plugins_customer_feature_changes_the_churn_model(
    settings: Settings,
) -> None:
    """The example plugin implements crm_analytics_customer_features (a points balance as of
    the cut-off): with it the churn model has one feature more and scores differently."""
    async with app_client(settings, plugins=[crm_analytics, crm_loyalty]) as client:
        await seed_demo(client.app.state.crm.engine, customers=150, seed=3)
        await _award_points_per_order(client)
        features_on, scores_on = await _churn_model(client)
    async with app_client(settings, plugins=[crm_analytics], migrate=False) as client:
        features_off, scores_off = await _churn_model(client)

    assert "loyalty.points_balance" not in features_off
    assert features_on == [*features_off, "loyalty.points_balance"]
    assert len(scores_on) > 20 and scores_on.keys() == scores_off.keys()
    changed = [c for c in scores_on if abs(scores_on[c] - scores_off[c]) > 1e-6]
    assert len(changed) > len(scores_on) // 2


class BrokenFeatures:
    """A plugin breaking the feature hook's contract in one of the ways it names."""

    def __init__(self, features: dict[Any, Any]) -> None:
        self.features = features

    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="broken", version="1.0")

    @hookimpl
    def crm_analytics_customer_features(
        self, app: Any, customer_ids: list[int], as_of: datetime
    ) -> dict[Any, Any]:
        return {name: {customer_ids[0]: value} for name, value in self.features.items()}


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({"score": float("nan")}, "plugin 'broken', feature 'score': customer"),
        ({"score": "high"}, "'high' is not a number"),
        (
            {"Open Tickets": 1},
            "plugin 'broken', feature 'Open Tickets': a feature name is snake_case",
        ),
    ],
)
async def test_a_feature_breaking_the_contract_fails_training_naming_plugin_and_feature(
    settings: Settings, features: dict[str, Any], message: str
) -> None:
    async with app_client(settings, plugins=[crm_analytics, BrokenFeatures(features)]) as client:
        await seed_demo(client.app.state.crm.engine, customers=12, seed=1)
        job = await _train(client)
    assert job["status"] == "FAILED"
    assert message in job["message"]


class FailingFeatures:
    """A plugin whose feature hook fails unexpectedly, with internals in the error's text."""

    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="failing", version="1.0")

    @hookimpl
    def crm_analytics_customer_features(
        self, app: Any, customer_ids: list[int], as_of: datetime
    ) -> dict[Any, Any]:
        raise RuntimeError("relation tickets_v2 does not exist (/srv/failing/features.py)")


async def test_an_unexpected_failure_shows_its_error_id_only(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed job's message is read through the API: an unexpected error's text (SQL, paths,
    data) stays in the ``crm_graph.errors`` log, under the id the message shows."""
    async with app_client(settings, plugins=[crm_analytics, FailingFeatures()]) as client:
        await seed_demo(client.app.state.crm.engine, customers=12, seed=1)
        job = await _train(client)
    assert job["status"] == "FAILED"
    assert "tickets_v2" not in job["message"] and "RuntimeError" not in job["message"]
    shown = re.fullmatch(r"INTERNAL_ERROR: .* \(([0-9a-f]{32})\)", job["message"])
    assert shown, job["message"]
    [logged] = [r for r in caplog.records if shown[1] in r.getMessage()]
    assert logged.name == "crm_graph.errors" and "tickets_v2" in logged.getMessage()
    assert logged.exc_info is not None


async def test_longer_horizon_and_discounting_change_lifetime_value(
    analytics: GraphQLClient,
) -> None:
    await _train(analytics)
    data = await analytics.data(
        "{ customers(first: 30) { nodes { "
        "year: lifetimeValue { value { amount } expectedPurchases historicalValue { amount } } "
        "twoYears: lifetimeValue(horizonDays: 730) { value { amount } expectedPurchases } "
        "undiscounted: lifetimeValue(discountRate: 0) { value { amount } "
        "historicalValue { amount } } } } }"
    )
    nodes = [n for n in data["customers"]["nodes"] if n["year"] is not None]
    assert nodes
    for n in nodes:
        assert n["twoYears"]["expectedPurchases"] >= n["year"]["expectedPurchases"]
        assert float(n["twoYears"]["value"]["amount"]) >= float(n["year"]["value"]["amount"])
        assert float(n["undiscounted"]["value"]["amount"]) >= float(n["year"]["value"]["amount"])
        assert float(n["undiscounted"]["historicalValue"]["amount"]) >= float(
            n["year"]["historicalValue"]["amount"]
        )
    bad = await analytics.execute(
        "{ customers(first: 1) { nodes { lifetimeValue(horizonDays: 0) { value { amount } } } } }"
    )
    assert bad["errors"][0]["extensions"] == {"code": "INVALID_VALUE", "field": "horizonDays"}


async def test_reading_scores_costs_the_same_statements_for_any_number_of_customers(
    analytics: GraphQLClient,
) -> None:
    await _train(analytics)
    counts = []
    for first in (5, 60):
        with count_statements(analytics.app) as statements:
            await analytics.data(
                f"{{ customers(first: {first}) {{ nodes {{ {CUSTOMER_FIELDS} }} }} }}"
            )
        # Only this request's reads: the event sequencer works in the background meanwhile.
        counts.append(len([s for s in statements if "event" not in s.lower()]))
    assert counts[0] == counts[1], statements
    assert counts[0] <= 8


async def test_model_and_chart_queries(analytics: GraphQLClient) -> None:
    await _train(analytics)
    data = await analytics.data(
        """{
          clvModel { bgnbd { r alpha a b } gammaGamma { p q gamma } timeUnitDays asOf customers
                     trainedAt logLikelihood }
          analytics {
            rfmSegments { segment customers revenue { amount currency } }
            cohortRetention(period: QUARTER) { cohort customers retention }
            revenueByMonth { month revenue { amount } orders customers }
            retentionRate(from: "2026-05-01", to: "2026-11-01")
            repeatPurchaseRate
            clvDistribution(buckets: 5) { lower { amount } upper { amount } customers total { amount } }
            churnBands { band customers }
            segmentProfiles { segment { id name customers } recencyDays orders
                              revenue { amount currency } predictedValue { amount } }
          }
        }"""
    )
    model = data["clvModel"]
    assert all(v > 0 for v in model["bgnbd"].values())
    assert model["gammaGamma"]["q"] > 1
    assert model["timeUnitDays"] == 7 and model["asOf"].startswith("2026-11-01")
    assert model["logLikelihood"] < 0
    charts = data["analytics"]
    segments = charts["rfmSegments"]
    assert len(segments) == 11
    assert sum(s["customers"] for s in segments) == model["customers"]
    cohorts = charts["cohortRetention"]
    assert cohorts and all(c["retention"][0] == 1.0 for c in cohorts)
    assert all(0 <= r <= 1 for c in cohorts for r in c["retention"])
    months = charts["revenueByMonth"]
    assert [m["month"] for m in months] == sorted(m["month"] for m in months)
    assert 0 < charts["retentionRate"] < 1
    assert 0 < charts["repeatPurchaseRate"] < 1
    buckets = charts["clvDistribution"]
    assert len(buckets) == 5 and buckets[-1]["upper"] is None
    assert sum(b["customers"] for b in buckets) == model["customers"]
    scored: list[dict[str, Any]] = []
    after = None
    while True:
        page = (
            await analytics.data(
                """query ($after: String) { customers(first: 100, after: $after) {
                  pageInfo { hasNextPage endCursor } nodes { churnRisk { band } segment { id } } } }""",
                {"after": after},
            )
        )["customers"]
        scored += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert charts["churnBands"] == [
        {
            "band": band,
            "customers": sum(1 for c in scored if (c["churnRisk"] or {}).get("band") == band),
        }
        for band in ("LOW", "MEDIUM", "HIGH")
    ]
    profiles = charts["segmentProfiles"]
    assert [p["segment"]["customers"] for p in profiles] == [
        sum(1 for c in scored if (c["segment"] or {}).get("id") == p["segment"]["id"])
        for p in profiles
    ]
    assert [p["segment"]["customers"] for p in profiles] == sorted(
        (p["segment"]["customers"] for p in profiles), reverse=True
    )
    assert all(p["recencyDays"] >= 0 and p["orders"] >= 1 for p in profiles)
    assert all(float(p["revenue"]["amount"]) > 0 and p["predictedValue"] for p in profiles)


async def test_training_emits_an_event_and_refuses_bad_input(analytics: GraphQLClient) -> None:
    job = await _train(analytics)
    async with analytics.app.state.crm.read() as session:
        events = list(
            await session.scalars(
                select(EventRecord).where(EventRecord.type == "analytics.trained")
            )
        )
    assert len(events) == 1
    assert events[0].entity_id == job["id"]
    assert events[0].payload["models"]["churn"] is True

    refused = await analytics.data(
        'mutation { trainAnalyticsModels(input: {asOf: "2999-01-01T00:00:00Z", '
        "timeUnitDays: 0}) { job { id } errors { code field } } }"
    )
    assert refused["trainAnalyticsModels"] == {
        "job": None,
        "errors": [
            {"code": "INVALID_VALUE", "field": ["input", "asOf"]},
            {"code": "INVALID_VALUE", "field": ["input", "timeUnitDays"]},
        ],
    }


async def test_models_lacking_data_say_why(settings: Settings) -> None:
    async with app_client(settings, plugins=[crm_analytics]) as client:
        await seed_demo(client.app.state.crm.engine, customers=12, seed=1)
        job = await _train(client)
        assert job["status"] == "SUCCEEDED"
        assert "clv not trained" in job["message"]
        result = await client.execute("{ clvModel { asOf } }")
        assert result["data"]["clvModel"] is None
        assert result["errors"][0]["extensions"]["code"] == "NOT_TRAINED"
        assert "could not be trained at the last run" in result["errors"][0]["message"]


async def test_the_analytics_branch_migrates_to_exactly_the_tables(settings: Settings) -> None:
    from crm_graph.db.migrate import differences

    async with app_client(settings, plugins=[crm_analytics]) as client:
        crm = client.app.state.crm
        assert await differences(crm.engine, crm.plugins) == []


async def test_a_job_whose_process_died_reads_as_failed(
    analytics: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running job touches its row; one untouched for too long lost its process (SIGKILL,
    a crash) and reads as FAILED instead of running forever."""
    app = analytics.app.state.crm
    as_of = datetime.fromisoformat(AS_OF)
    async with app.write() as session:
        dead = AnalyticsJob(status="RUNNING", as_of=as_of, time_unit_days=7)
        dead.updated_at = utcnow() - jobs.ABANDONED_AFTER - timedelta(seconds=1)
        session.add(dead)
        alive = AnalyticsJob(status="RUNNING", as_of=as_of, time_unit_days=7)
        session.add(alive)
        await session.flush()
        ids = {"dead": dead.id, "alive": alive.id}
    query = "query($id: ID!) { analyticsJob(id: $id) { status message } }"
    seen = {
        name: (await analytics.data(query, {"id": to_global_id("AnalyticsJob", pk)}))[
            "analyticsJob"
        ]
        for name, pk in ids.items()
    }
    assert seen["dead"] == {"status": "FAILED", "message": jobs.ABANDONED}
    assert seen["alive"]["status"] == "RUNNING"

    # While training runs, its row is touched even when no progress is reported.
    monkeypatch.setattr(jobs, "HEARTBEAT_SECONDS", 0.05)
    job = await create_job(app, as_of, 7)
    held = asyncio.Event()

    async def hold(fraction: float, message: str) -> None:
        await held.wait()  # training waits here, as during a long fit

    running = asyncio.create_task(jobs.run(app, job, hold))
    await asyncio.sleep(0.05)
    async with app.read() as session:
        first = (await session.get(AnalyticsJob, job.id)).updated_at
    await asyncio.sleep(0.3)
    async with app.read() as session:
        later = (await session.get(AnalyticsJob, job.id)).updated_at
    held.set()
    await running
    assert later > first


async def test_training_without_any_order_succeeds(settings: Settings) -> None:
    """Found by the fuzzer: with customers but no orders, CLV's daily totals indexed an empty
    array and the job failed with numpy's IndexError as its message."""
    async with app_client(settings, plugins=[crm_analytics]) as client:
        await client.data('mutation { createCustomer(input: {name: "Ada"}) { errors { code } } }')
        job = await _train(client)
    assert job["status"] == "SUCCEEDED", job
