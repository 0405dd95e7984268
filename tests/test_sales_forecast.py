"""The sales forecast, exact on a fixture checked by hand, and leads and deals through
``crm-graph import``/``export`` with rejects files. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from pathlib import Path
from textwrap import dedent

import pytest

import crm_sales
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, run_cli
from tests.sales_support import move_deal, stages

CUSTOMERS = """
external_id,name,email
C1,Ada,ada@example.com
C2,Bob,bob@example.com
"""

# Amy and Ben, EUR and USD. By hand, from 2026-10-01 to 2027-03-31:
# D1 open 1000 EUR at 40 %, closing 2027-01-15: weighted 400 EUR (Jan, Q1)
# D2 open 2000 EUR at 90 %, moved back to 60 % below, closing 2027-02-20: weighted 1200 EUR
# D3 open 500 USD at 80 %, closing 2027-01-31: weighted 400 USD
# D4 open 3000 EUR at 20 % without a close date: undated, weighted 600 EUR, in no period
# D5 won 1500 EUR (amy), created 2026-09-01, won 2026-11-10: committed Nov, cycle 70 days
# D6 won 800 USD (ben), created 2026-10-01, won 2026-12-01: committed Dec, cycle 61 days
# D7 lost 700 EUR (ben), closed 2026-11-20
# D8 won 999 EUR (amy) in 2026-09: before the range, counted nowhere
# win rate 2 / 3; amy 1 / 1, ben 1 / 2; median cycle (61, 70) = 65.5 days
DEALS = """
external_id,name,customer_external_id,amount,currency,stage,expected_close_date,owner_id,lost_reason,created_at,closed_at
D1,One,C1,1000,EUR,Qualified to buy,2027-01-15,amy,,,
D2,Two,C1,2000,EUR,Contract sent,2027-02-20,amy,,,
D3,Three,C2,500,USD,Decision maker bought-in,2027-01-31,ben,,,
D4,Four,C2,3000,EUR,Appointment scheduled,,ben,,,
D5,Five,C1,1500,EUR,Closed won,2026-11-30,amy,,2026-09-01T09:00:00+00:00,2026-11-10T09:00:00+00:00
D6,Six,C2,800,USD,Closed won,,ben,,2026-10-01T12:00:00+00:00,2026-12-01T12:00:00+00:00
D7,Seven,C2,700,EUR,Closed lost,,ben,Price,2026-10-05T08:00:00+00:00,2026-11-20T08:00:00+00:00
D8,Eight,C1,999,EUR,Closed won,,amy,,2026-08-01T08:00:00+00:00,2026-09-20T08:00:00+00:00
D9,Bad,C9,-5,EUR,Nowhere,2027-13-01,amy,,,
"""

FORECAST = """
query ($period: ForecastPeriod!, $owner: String) {
  salesForecast(period: $period, from: "2026-10-01", to: "2027-03-31", owner: $owner) {
    periods { start end weighted { amount currency } pipeline { amount currency }
              committed { amount currency } openDeals wonDeals }
    total { weighted { amount currency } committed { amount currency }
            undatedWeighted { amount currency } undatedDeals wonDeals lostDeals winRate
            averageDealSize { amount currency } medianCycleDays }
    owners { ownerId figures { weighted { amount currency } committed { amount currency }
             winRate medianCycleDays undatedDeals } }
  }
}
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(dedent(text).lstrip())
    return path


def m(amount: str, currency: str) -> dict[str, str]:
    return {"amount": amount, "currency": currency}


@pytest.fixture
async def sales(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with app_client(settings, plugins=[crm_sales]) as client:
        for user in ("amy", "ben"):
            await client.acting_as("sales", user).data("{ viewer { role } }")
        yield client


async def test_the_forecast_is_exact_on_the_hand_checked_fixture(
    sales: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    url = settings.database_url
    customers = _write(tmp_path / "customers.csv", CUSTOMERS)
    assert (await run_cli(url, "import", "customers", str(customers))).exit_code == 0
    deals = _write(tmp_path / "deals.csv", DEALS)
    result = await run_cli(url, "import", "deals", str(deals), plugins="sales")
    assert result.exit_code == 1, result.output  # a row was rejected
    assert "deals: 8 inserted, 0 updated, 0 unchanged; 1 rows rejected" in result.output
    with open(tmp_path / "deals.csv.rejects.csv") as rejects:
        rows = list(csv.DictReader(rejects))
    assert [r["external_id"] for r in rows] == ["D9"]
    again = await run_cli(url, "import", "deals", str(deals), plugins="sales")
    assert "deals: 0 inserted, 0 updated, 8 unchanged; 1 rows rejected" in again.output
    assert (await sales.data("{ deals { totalCount } }"))["deals"]["totalCount"] == 8

    stage = await stages(sales)
    two = await sales.data('{ deals(filter: {search: "Two"}) { nodes { id } } }')
    moved = await move_deal(
        sales, id=two["deals"]["nodes"][0]["id"], stageId=stage["Presentation scheduled"]
    )
    assert moved["errors"] == []

    quarters = (await sales.data(FORECAST, {"period": "QUARTER"}))["salesForecast"]
    assert quarters["periods"] == [
        {
            "start": "2026-10-01",
            "end": "2026-12-31",
            "weighted": [],
            "pipeline": [],
            "committed": [m("1500.00", "EUR"), m("800.00", "USD")],
            "openDeals": 0,
            "wonDeals": 2,
        },
        {
            "start": "2027-01-01",
            "end": "2027-03-31",
            "weighted": [m("1600.00", "EUR"), m("400.00", "USD")],
            "pipeline": [m("3000.00", "EUR"), m("500.00", "USD")],
            "committed": [],
            "openDeals": 3,
            "wonDeals": 0,
        },
    ]
    assert quarters["total"] == {
        "weighted": [m("1600.00", "EUR"), m("400.00", "USD")],
        "committed": [m("1500.00", "EUR"), m("800.00", "USD")],
        "undatedWeighted": [m("600.00", "EUR")],
        "undatedDeals": 1,
        "wonDeals": 2,
        "lostDeals": 1,
        "winRate": 0.6667,
        "averageDealSize": [m("1500.00", "EUR"), m("800.00", "USD")],
        "medianCycleDays": 65.5,
    }
    assert quarters["owners"] == [
        {
            "ownerId": "amy",
            "figures": {
                "weighted": [m("1600.00", "EUR")],
                "committed": [m("1500.00", "EUR")],
                "winRate": 1.0,
                "medianCycleDays": 70.0,
                "undatedDeals": 0,
            },
        },
        {
            "ownerId": "ben",
            "figures": {
                "weighted": [m("400.00", "USD")],
                "committed": [m("800.00", "USD")],
                "winRate": 0.5,
                "medianCycleDays": 61.0,
                "undatedDeals": 1,
            },
        },
    ]
    months = (await sales.data(FORECAST, {"period": "MONTH"}))["salesForecast"]["periods"]
    assert [p["start"] for p in months] == [
        "2026-10-01",
        "2026-11-01",
        "2026-12-01",
        "2027-01-01",
        "2027-02-01",
        "2027-03-01",
    ]
    assert [(p["weighted"], p["committed"]) for p in months] == [
        ([], []),
        ([], [m("1500.00", "EUR")]),
        ([], [m("800.00", "USD")]),
        ([m("400.00", "EUR"), m("400.00", "USD")], []),
        ([m("1200.00", "EUR")], []),
        ([], []),
    ]
    amy = (await sales.data(FORECAST, {"period": "QUARTER", "owner": "amy"}))["salesForecast"]
    assert amy["total"]["winRate"] == 1.0 and amy["total"]["lostDeals"] == 0
    bob = await sales.data('{ customer(externalId: "C2") { id version } }')
    await sales.data(
        'mutation ($id: ID!) { assignCustomerOwner(input: {id: $id, ownerId: "ben"}) '
        "{ errors { code } } }",
        {"id": bob["customer"]["id"]},
    )
    rep = await sales.acting_as("sales", "ben").data(FORECAST, {"period": "QUARTER"})
    assert [o["ownerId"] for o in rep["salesForecast"]["owners"]] == ["ben"]  # own deals only
    assert rep["salesForecast"]["total"]["winRate"] == 0.5

    history = await sales.data(
        '{ deals(filter: {search: "Five"}) { nodes { stageHistory { stage { name } enteredAt } } } }'
    )
    assert [
        (h["stage"]["name"], h["enteredAt"]) for h in history["deals"]["nodes"][0]["stageHistory"]
    ] == [
        ("Appointment scheduled", "2026-09-01T09:00:00+00:00"),
        ("Closed won", "2026-11-10T09:00:00+00:00"),
    ]
    exported = await run_cli(url, "export", "deals", plugins="sales")
    assert exported.exit_code == 0
    assert "D7,Seven,C2,700.00,Closed lost,EUR,Sales pipeline,,ben,Price" in exported.output


LEADS = """
name,email,phone,source,status,owner_id,external_id,country
Lin,LIN@example.com,+1 415 555 0123,event,,,L1,DE
Max,max@example.com,,,working,ben,L2,
,nobody@example.com,,,,,L3,
Out,out@example.com,,,disqualified,,L4,
"""


async def test_leads_import_with_rejects_and_export_back(
    sales: GraphQLClient, settings: Settings, tmp_path: Path
) -> None:
    url = settings.database_url
    path = _write(tmp_path / "leads.csv", LEADS)
    result = await run_cli(url, "import", "leads", str(path), plugins="sales")
    assert "leads: 2 inserted, 0 updated, 0 unchanged; 2 rows rejected" in result.output
    with open(tmp_path / "leads.csv.rejects.csv") as rejects:
        rows = list(csv.DictReader(rejects))
    assert [r["external_id"] for r in rows] == ["L3", "L4"]
    found = await sales.data(
        "{ leads(orderBy: {field: CREATED_AT, direction: ASC}) { nodes { name email phone source status owner { userId } attributes } } }"
    )
    assert found["leads"]["nodes"] == [
        {
            "name": "Lin",
            "email": "lin@example.com",
            "phone": "+14155550123",
            "source": "EVENT",
            "status": "NEW",
            "owner": None,
            "attributes": {"country": "DE"},
        },
        {
            "name": "Max",
            "email": "max@example.com",
            "phone": None,
            "source": "IMPORT",
            "status": "WORKING",
            "owner": {"userId": "ben"},
            "attributes": {},
        },
    ]
    again = await run_cli(url, "import", "leads", str(path), plugins="sales")
    assert "leads: 0 inserted, 0 updated, 2 unchanged; 2 rows rejected" in again.output
    assert (await sales.data("{ leads { totalCount } }"))["leads"]["totalCount"] == 2
    exported = await run_cli(url, "export", "leads", plugins="sales")
    assert "Lin,L1,,lin@example.com,+14155550123,event,new" in exported.output
