"""The web app's analytics dashboard, and every report of ``analytics`` alone, answered by the
compiled read path as strawberry answers them, for every role, on SQLite and PostgreSQL: before
training (the NOT_TRAINED errors), after it, and with bad arguments (typed errors)."""

from __future__ import annotations

import re
from pathlib import Path

import crm_analytics
from crm_graph.demo import seed_demo
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from tests.test_analytics_api import _train
from tests.test_compiled_reads import COMPILED, ROLES, same_answer

SCREEN = Path(__file__).parents[1] / "examples/spa/src/screens/AnalyticsDashboard.tsx"
DASHBOARD = re.search(r"graphql\(`(.*?)`\)", SCREEN.read_text(), re.S).group(1)  # type: ignore[union-attr]

REPORTS = [
    "rfmSegments { segment customers revenue { amount currency } }",
    "churnBands { band customers }",
    "segmentProfiles { segment { id name description customers } recencyDays orders "
    "revenue { amount currency } predictedValue { amount currency } }",
    "cohortRetention { cohort customers retention }",
    "cohortRetention(period: WEEK) { cohort customers retention }",
    "revenueByMonth { month revenue { amount currency } orders customers }",
    'retentionRate(from: "2026-05-01", to: "2026-11-01")',
    'retentionRate(from: "2026-05-01", to: "2026-05-01")',  # INVALID_VALUE at `to`
    "repeatPurchaseRate",
    "clvDistribution { lower { amount currency } upper { amount } customers total { amount } }",
    "clvDistribution(buckets: 1) { customers }",  # INVALID_VALUE at `buckets`
]
QUERIES = [
    DASHBOARD,
    *(f"{{ analytics {{ {report} }} }}" for report in REPORTS),
    "{ analytics { a: repeatPurchaseRate b: repeatPurchaseRate } "
    "again: analytics { churnBands { band } } }",
    "{ clvModel { bgnbd { r alpha a b } gammaGamma { p q gamma } timeUnitDays asOf customers "
    "trainedAt logLikelihood } analyticsModels(history: true) }",
    '{ analyticsJob(id: "QW5hbHl0aWNzSm9iOjk5OQ==") { id status message } }',  # no such job
    '{ analyticsJob(id: "nope") { id } }',  # INVALID_ID
]


async def _every_role_alike(compiled: GraphQLClient, fallback: GraphQLClient) -> list[str]:
    """Each query for each role: the same answer, compiled wherever strawberry's has no
    errors; the queries' bodies in order, for the caller to check what they hold."""
    answers = []
    for role in ROLES:
        for query in QUERIES:
            body, served = await same_answer(
                compiled.acting_as(role), fallback.acting_as(role), query, {}, role
            )
            if not body.get("errors"):
                assert served == COMPILED, (role, query)
            if role == "analyst":
                answers.append(body)
    return answers


async def test_the_dashboard_and_each_report_are_compiled_and_alike(settings: Settings) -> None:
    async with app_client(settings, plugins=[crm_analytics]) as compiled:
        await seed_demo(compiled.app.state.crm.engine, customers=150, seed=3)
        plain = settings.model_copy(update={"compiled_reads": False})
        async with app_client(plain, plugins=[crm_analytics], migrate=False) as fallback:
            untrained = await _every_role_alike(compiled, fallback)
            codes = {e["extensions"]["code"] for e in untrained[0]["errors"]}
            assert codes == {"NOT_TRAINED"}

            assert (await _train(compiled))["status"] == "SUCCEEDED"
            dashboard, *reports = await _every_role_alike(compiled, fallback)
            charts = dashboard["data"]["analytics"]
            assert len(charts["rfmSegments"]) == 11 and len(charts["clvDistribution"]) == 8
            assert charts["revenueByMonth"] and 0 < charts["repeatPurchaseRate"] < 1
            assert dashboard["data"]["analyticsModels"]
            bad_range, bad_buckets = reports[7], reports[10]
            assert bad_range["data"] == {"analytics": {"retentionRate": None}}
            assert [(e["extensions"]["code"], e["path"]) for e in bad_range["errors"]] == [
                ("INVALID_VALUE", ["analytics", "retentionRate"])
            ]
            assert bad_buckets["data"] is None
            assert bad_buckets["errors"][0]["extensions"]["code"] == "INVALID_VALUE"
