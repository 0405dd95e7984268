"""Lead scoring: rules while too few outcomes exist, then a model learned from the CRM's own
converted and disqualified leads by ``crm-graph sales train``, reported with its
cross-validated AUC, each score with its top factors. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

import crm_sales
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client

CREATE = """
mutation ($input: CreateLeadInput!) {
  createLead(input: $input) { lead { id score scoreFactors { feature effect } } errors { code } }
}
"""


@pytest.fixture
async def sales(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with app_client(settings, plugins=[crm_sales]) as client:
        yield client


async def _lead(client: GraphQLClient, **input) -> dict:
    made = (await client.data(CREATE, {"input": input}))["createLead"]
    assert made["errors"] == []
    return made["lead"]


async def test_rules_score_leads_until_outcomes_are_learned_from(
    sales: GraphQLClient, settings: Settings
) -> None:
    rules = await _lead(
        sales,
        name="R",
        source="REFERRAL",
        email="r@acme.example",
        phone="+14155550123",
        company="Acme",
    )
    assert rules["score"] == 70  # 10 + referral 25 + business e-mail 15 + phone 10 + company 10
    assert rules["scoreFactors"] == [
        {"feature": "source=referral", "effect": 25.0},
        {"feature": "email=business", "effect": 15.0},
        {"feature": "has_phone", "effect": 10.0},
    ]
    trained = await _train(settings)
    assert "lead scoring by rules: 0 outcomes" in trained

    # History: referrals with business addresses convert, ads with free mail do not (mostly).
    for n in range(22):
        good = n % 11 != 0  # two of each kind go the other way
        lead = await _lead(
            sales,
            name=f"Good {n}" if good else f"Odd {n}",
            source="REFERRAL" if n < 11 else "EVENT",
            email=f"p{n}@firm{n}.example",
            phone="+14155550123" if n % 2 else None,
        )
        if good:
            done = await sales.data(
                "mutation ($id: ID!) { convertLead(input: {id: $id}) { errors { code } } }",
                {"id": lead["id"]},
            )
            assert done["convertLead"]["errors"] == []
        else:
            await _disqualify(sales, lead["id"])
    for n in range(18):
        lead = await _lead(sales, name=f"Ad {n}", source="ADVERTISING", email=f"ad{n}@gmail.com")
        if n % 9 == 0:
            await sales.data(
                "mutation ($id: ID!) { convertLead(input: {id: $id}) { errors { code } } }",
                {"id": lead["id"]},
            )
        else:
            await _disqualify(sales, lead["id"])

    trained = await _train(settings)
    auc = float(
        re.search(r"learned from 40 outcomes: cross-validated ROC AUC ([0-9.]+)", trained)[1]
    )
    assert auc > 0.7
    model = (await sales.data("{ leadScoringModel { kind outcomes auc features } }"))[
        "leadScoringModel"
    ]
    assert (model["kind"], model["outcomes"]) == ("LEARNED", 40)
    assert round(model["auc"], 3) == round(auc, 3)
    assert "source=referral" in model["features"] and "days_since_task" in model["features"]

    likely = await _lead(sales, name="Likely", source="REFERRAL", email="x@corp.example")
    unlikely = await _lead(sales, name="Unlikely", source="ADVERTISING", email="y@gmail.com")
    assert likely["score"] > 60 > unlikely["score"]
    assert likely["scoreFactors"] and all(f["effect"] != 0 for f in likely["scoreFactors"])
    assert any(f["effect"] > 0 for f in likely["scoreFactors"])
    assert any(f["effect"] < 0 for f in unlikely["scoreFactors"])
    rescored = await sales.data("query ($id: ID!) { lead(id: $id) { score } }", {"id": rules["id"]})
    assert rescored["lead"]["score"] != 70  # the open lead was rescored by the learned model


async def _train(settings: Settings) -> str:
    """``crm-graph sales train``, in its own process (as an operator or cron runs it)."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "crm_graph", "sales", "train"],
        env={**os.environ, "CRM_DATABASE_URL": settings.database_url, "CRM_PLUGINS": "sales"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _disqualify(client: GraphQLClient, lead: str) -> None:
    done = await client.data(
        "mutation ($id: ID!) { changeLeadStatus(input: {id: $id, status: DISQUALIFIED, "
        'reason: "no fit"}) { errors { code } } }',
        {"id": lead},
    )
    assert done["changeLeadStatus"]["errors"] == []
