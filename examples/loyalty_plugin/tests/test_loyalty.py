"""The loyalty plugin as its users see it: GraphQL over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import sys
from decimal import Decimal

import pytest

import crm_loyalty
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, count_statements

AWARD = """
mutation ($customerId: ID!, $points: Int!, $reason: String!) {
  awardLoyaltyPoints(input: {customerId: $customerId, points: $points, reason: $reason}) {
    account { points tier { name minPoints pointsToNextTier } customer { name } }
    entry { points reason }
    errors { code message field }
  }
}
"""
BALANCE = "query ($id: ID!) { customer(id: $id) { loyaltyPoints loyaltyTier { name } } }"


async def new_customer(client: GraphQLClient, name: str) -> str:
    data = await client.data(
        "mutation ($name: String!) { createCustomer(input: {name: $name}) { customer { id } } }",
        {"name": name},
    )
    return data["createCustomer"]["customer"]["id"]


async def award(client: GraphQLClient, customer: str, points: int, reason: str) -> dict:
    variables = {"customerId": customer, "points": points, "reason": reason}
    return (await client.data(AWARD, variables))["awardLoyaltyPoints"]


async def test_awards_add_up_and_reach_tiers(loyalty: GraphQLClient) -> None:
    ada = await new_customer(loyalty, "Ada")
    assert (await loyalty.data(BALANCE, {"id": ada}))["customer"] == {
        "loyaltyPoints": 0,
        "loyaltyTier": None,
    }

    first = await award(loyalty, ada, 120, "  first   order ")
    assert first["errors"] == []
    assert first["entry"] == {"points": 120, "reason": "first order"}
    assert first["account"] == {
        "points": 120,
        "tier": {"name": "bronze", "minPoints": 100, "pointsToNextTier": 380},
        "customer": {"name": "Ada"},
    }
    await award(loyalty, ada, 400, "referral")
    assert (await loyalty.data(BALANCE, {"id": ada}))["customer"] == {
        "loyaltyPoints": 520,
        "loyaltyTier": {"name": "silver"},
    }


async def test_bad_awards_are_user_errors_and_write_nothing(loyalty: GraphQLClient) -> None:
    ada = await new_customer(loyalty, "Ada")
    everything_wrong = await award(loyalty, ada, -5, "   ")
    assert everything_wrong["account"] is None
    assert {(e["code"], tuple(e["field"])) for e in everything_wrong["errors"]} == {
        ("INVALID_VALUE", ("input", "points")),
        ("REQUIRED", ("input", "reason")),
    }
    too_many = await award(loyalty, ada, 10_001, "typo")
    assert [e["code"] for e in too_many["errors"]] == ["TOO_LARGE"]
    deleted = await new_customer(loyalty, "Gone")
    await loyalty.data(
        "mutation ($id: ID!) { deleteCustomer(input: {id: $id}) { errors { code } } }",
        {"id": deleted},
    )
    for customer, code in [(deleted, "NOT_FOUND"), ("bm9wZQ", "INVALID_ID")]:
        result = await award(loyalty, customer, 10, "welcome")
        assert [(e["code"], e["field"]) for e in result["errors"]] == [
            (code, ["input", "customerId"])
        ]
    assert (await loyalty.data(BALANCE, {"id": ada}))["customer"]["loyaltyPoints"] == 0


async def test_loyalty_fields_cost_one_statement_for_any_number_of_customers(
    loyalty: GraphQLClient,
) -> None:
    for index in range(5):
        customer = await new_customer(loyalty, f"Customer {index}")
        await award(loyalty, customer, 100 * (index + 1), "seed")
    query = "{ customers(first: %d) { nodes { name %s } } }"
    with count_statements(loyalty.app) as plain:
        await loyalty.data(query % (5, ""))
    with count_statements(loyalty.app) as one:
        await loyalty.data(query % (1, "loyaltyPoints loyaltyTier { name }"))
    with count_statements(loyalty.app) as five:
        data = await loyalty.data(query % (5, "loyaltyPoints loyaltyTier { name }"))
    assert [c["loyaltyPoints"] for c in data["customers"]["nodes"]] == [500, 400, 300, 200, 100]
    assert len(one) == len(five) == len(plain) + 1


async def test_tiers_and_limits_come_from_plugin_settings(
    loyalty_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_PLUGIN_LOYALTY_TIERS", '{"member": 1, "vip": 50}')
    monkeypatch.setenv("CRM_PLUGIN_LOYALTY_MAX_AWARD", "60")
    async with app_client(loyalty_settings, plugins=[crm_loyalty]) as client:
        ada = await new_customer(client, "Ada")
        assert [e["code"] for e in (await award(client, ada, 61, "too much"))["errors"]] == [
            "TOO_LARGE"
        ]
        result = await award(client, ada, 60, "enough")
    assert result["account"]["tier"] == {"name": "vip", "minPoints": 50, "pointsToNextTier": None}


async def test_startup_warns_when_the_loyalty_branch_is_not_migrated(
    loyalty_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with app_client(loyalty_settings, plugins=[]):  # the core branch only
        pass
    caplog.set_level(logging.INFO, logger="crm_loyalty")
    async with app_client(loyalty_settings, plugins=[crm_loyalty], migrate=False):
        pass
    assert "loyalty tables are missing: run `crm-graph migrate`" in caplog.text
    assert "loyalty tiers: bronze >= 100, silver >= 500, gold >= 2000" in caplog.text


async def test_roles_award_within_their_grants(loyalty: GraphQLClient) -> None:
    theirs = await new_customer(loyalty, "Someone else's")
    sales = loyalty.acting_as("sales", "sam")
    own = await new_customer(sales, "Sam's")
    forbidden = await loyalty.acting_as("readonly", "rita").execute(
        AWARD, {"customerId": own, "points": 5, "reason": "try"}
    )
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await award(sales, own, 5, "own customer"))["account"]["points"] == 5
    assert [e["code"] for e in (await award(sales, theirs, 5, "not mine"))["errors"]] == [
        "NOT_FOUND"
    ]
    readable = await loyalty.acting_as("analyst", "ann").data(BALANCE, {"id": own})
    assert readable["customer"]["loyaltyPoints"] == 5


AWARDED_BY = """
mutation ($customerId: ID!) {
  awardLoyaltyPoints(input: {customerId: $customerId, points: 5, reason: "visit"}) {
    entry { awardedBy { id userId name } }
  }
}
"""


async def test_an_award_names_the_user_who_made_it(loyalty: GraphQLClient) -> None:
    """``awardedBy`` is a core ``User`` (crm_graph.plugin.people): the caller, as admins
    name it."""
    sales = loyalty.acting_as("sales", "sam")
    own = await new_customer(sales, "Sam's")
    first = await sales.data(AWARDED_BY, {"customerId": own})
    sam = first["awardLoyaltyPoints"]["entry"]["awardedBy"]
    assert (sam["userId"], sam["name"]) == ("sam", "sam")
    renamed = await loyalty.data(
        'mutation ($id: ID!) { updateUser(input: {id: $id, name: "Sam Carter"}) '
        "{ errors { code } } }",
        {"id": sam["id"]},
    )
    assert renamed["updateUser"]["errors"] == []
    again = await sales.data(AWARDED_BY, {"customerId": own})
    assert again["awardLoyaltyPoints"]["entry"]["awardedBy"] == {**sam, "name": "Sam Carter"}


async def test_merging_customers_adds_their_balances(loyalty: GraphQLClient) -> None:
    keep, dupe, other = [await new_customer(loyalty, n) for n in ("Ada", "Ada L.", "A. L.")]
    await award(loyalty, keep, 100, "order")
    await award(loyalty, dupe, 450, "order")
    merged = await loyalty.data(
        """mutation ($keep: ID!, $gone: [ID!]!) {
          mergeCustomers(input: {survivorId: $keep, mergedIds: $gone}) {
            plan { moves { owner kind count } } errors { code }
            survivor { loyaltyPoints loyaltyTier { name } }
          }
        }""",
        {"keep": keep, "gone": [dupe, other]},
    )
    result = merged["mergeCustomers"]
    assert result["errors"] == []
    assert {
        (m["kind"], m["count"]) for m in result["plan"]["moves"] if m["owner"] == "loyalty"
    } == {
        ("loyalty_accounts", 1),
        ("loyalty_entries", 1),
    }
    assert result["survivor"] == {"loyaltyPoints": 550, "loyaltyTier": {"name": "silver"}}


async def test_a_balance_read_after_an_award_in_the_same_request_includes_it(
    loyalty: GraphQLClient,
) -> None:
    ada = await new_customer(loyalty, "Ada")
    shown = "account { customer { loyaltyPoints loyaltyTier { name } } }"
    data = await loyalty.data(
        f"""mutation ($id: ID!) {{
          first: awardLoyaltyPoints(input: {{customerId: $id, points: 100, reason: "one"}})
            {{ {shown} }}
          second: awardLoyaltyPoints(input: {{customerId: $id, points: 450, reason: "two"}})
            {{ {shown} }}
        }}""",
        {"id": ada},
    )
    assert [data[n]["account"]["customer"] for n in ("first", "second")] == [
        {"loyaltyPoints": 100, "loyaltyTier": {"name": "bronze"}},
        {"loyaltyPoints": 550, "loyaltyTier": {"name": "silver"}},
    ]


async def _demo(settings: Settings) -> subprocess.CompletedProcess[str]:
    """``crm-graph demo`` in a thread: the app under test keeps serving meanwhile."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "crm_graph", "demo", "--customers", "12", "--seed", "5"],
        env={**os.environ, "CRM_DATABASE_URL": settings.database_url, "CRM_PLUGINS": "loyalty"},
        capture_output=True,
        text=True,
        timeout=120,
    )


DEMO_BALANCES = """{ customers(first: 12) { nodes {
  loyaltyPoints orders(first: 100) { nodes { status total { amount } } } } } }"""


async def test_the_demo_awards_points_for_past_orders_once(
    loyalty: GraphQLClient, loyalty_settings: Settings
) -> None:
    first = await _demo(loyalty_settings)
    assert first.returncode == 0, first.stderr
    awarded = int(re.search(r"^loyalty: points for (\d+) customers$", first.stderr, re.M)[1])
    nodes = (await loyalty.data(DEMO_BALANCES))["customers"]["nodes"]
    for node in nodes:
        spent = sum(
            Decimal(order["total"]["amount"])
            for order in node["orders"]["nodes"]
            if order["status"] in ("PAID", "FULFILLED")
        )
        assert node["loyaltyPoints"] == min(int(spent), 10_000)
    assert awarded == sum(1 for node in nodes if node["loyaltyPoints"] > 0) > 0

    again = await _demo(loyalty_settings)
    assert again.returncode == 0, again.stderr
    assert "loyalty: points for 0 customers" in again.stderr
    assert (await loyalty.data(DEMO_BALANCES))["customers"]["nodes"] == nodes
