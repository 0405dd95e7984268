"""Pipelines and deals as the sales team sees them: GraphQL over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

import crm_sales
from crm_graph.plugin import to_global_id
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, count_statements
from tests.helpers import beyond_authentication
from tests.sales_support import (
    create_deal,
    events,
    move_deal,
    new_customer,
    stages,
)


@pytest.fixture
async def sales(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with app_client(settings, plugins=[crm_sales]) as client:
        yield client


PIPELINE = """
mutation ($input: CreateSalesPipelineInput!) {
  createSalesPipeline(input: $input) {
    pipeline { name stages { name position probability kind } }
    errors { code field }
  }
}
"""


async def test_pipelines_have_ordered_stages_and_refuse_bad_ones(sales: GraphQLClient) -> None:
    default = (await sales.data("{ salesPipelines { name stages { name probability kind } } }"))[
        "salesPipelines"
    ]
    assert [p["name"] for p in default] == ["Sales pipeline"]
    assert [(s["probability"], s["kind"]) for s in default[0]["stages"]][-2:] == [
        (100, "WON"),
        (0, "LOST"),
    ]

    bad = {
        "name": "  ",
        "stages": [
            {"name": "Talk", "probability": 150},
            {"name": "talk", "probability": 10},
            {"name": "Won", "kind": "WON", "probability": 50},
        ],
    }
    errors = (await sales.data(PIPELINE, {"input": bad}))["createSalesPipeline"]["errors"]
    assert {(e["code"], ".".join(e["field"])) for e in errors} == {
        ("REQUIRED", "input.name"),
        ("INVALID_PROBABILITY", "input.stages.0.probability"),
        ("DUPLICATE", "input.stages.1.name"),
        ("INVALID_PROBABILITY", "input.stages.2.probability"),
        ("INVALID_STAGES", "input.stages"),  # no lost stage
    }
    good = {
        "name": "Renewals",
        "stages": [
            {"name": "Due", "probability": 50},
            {"name": "Renewed", "kind": "WON"},
            {"name": "Churned", "kind": "LOST"},
        ],
    }
    made = (await sales.data(PIPELINE, {"input": good}))["createSalesPipeline"]
    assert made["errors"] == []
    assert made["pipeline"]["stages"] == [
        {"name": "Due", "position": 0, "probability": 50, "kind": "OPEN"},
        {"name": "Renewed", "position": 1, "probability": 100, "kind": "WON"},
        {"name": "Churned", "position": 2, "probability": 0, "kind": "LOST"},
    ]
    again = await sales.data(PIPELINE, {"input": {**good, "name": "renewals"}})
    assert again["createSalesPipeline"]["errors"] == [
        {"code": "NAME_TAKEN", "field": ["input", "name"]}
    ]
    names = [p["name"] for p in (await sales.data("{ salesPipelines { name } }"))["salesPipelines"]]
    assert names == ["Sales pipeline", "Renewals"]


UPDATE_PIPELINE = """
mutation ($input: UpdateSalesPipelineInput!) {
  updateSalesPipeline(input: $input) {
    pipeline { name version stages { id name position probability kind } }
    errors { code message field }
  }
}
"""


async def test_a_pipeline_is_edited_and_a_stage_holding_deals_is_kept(
    sales: GraphQLClient,
) -> None:
    made = await sales.data(
        PIPELINE.replace("pipeline { name", "pipeline { id version name"),
        {
            "input": {
                "name": "Renewals",
                "stages": [
                    {"name": "Due", "probability": 50},
                    {"name": "Renewed", "kind": "WON"},
                    {"name": "Churned", "kind": "LOST"},
                ],
            }
        },
    )
    pipeline = made["createSalesPipeline"]["pipeline"]
    assert pipeline["version"] == 1
    stage = await stages(sales, 1)
    default = await stages(sales, 0)
    ada = await new_customer(sales, "Ada")
    deal = (
        await create_deal(
            sales, name="Ada renewal", customerId=ada, amount="5", stageId=stage["Due"]
        )
    )["deal"]

    async def edit(**input) -> dict:
        done = await sales.data(UPDATE_PIPELINE, {"input": {"id": pipeline["id"], **input}})
        return done["updateSalesPipeline"]

    def kept(name: str, /, **changes) -> dict:
        return {"id": stage[name], "name": name} | changes

    won, lost = kept("Renewed", kind="WON"), kept("Churned", kind="LOST")
    bad = await edit(
        name="sales PIPELINE",
        stages=[
            {"id": default["Closed won"], "name": "Theirs", "probability": 10},
            {"id": stage["Renewed"], "name": "Renewed", "kind": "WON"},
            {"id": stage["Renewed"], "name": "Again", "kind": "WON"},
            {"id": "nope", "name": "Odd", "probability": 5},
        ],
    )
    assert {(e["code"], ".".join(e["field"])) for e in bad["errors"]} == {
        ("INVALID_ID", "input.stages.3.id"),
    }
    bad = await edit(
        name="sales PIPELINE",
        stages=[
            {"id": default["Closed won"], "name": "Theirs", "probability": 10},
            {"id": stage["Renewed"], "name": "Renewed", "kind": "WON"},
            {"id": stage["Renewed"], "name": "Again", "kind": "WON"},
        ],
    )
    assert {(e["code"], ".".join(e["field"])) for e in bad["errors"]} == {
        ("NAME_TAKEN", "input.name"),
        ("NOT_FOUND", "input.stages.0.id"),
        ("DUPLICATE", "input.stages.2.id"),
        ("INVALID_STAGES", "input.stages"),  # no lost stage
        ("STAGE_HAS_DEALS", "input.stages"),  # Due, left out, holds the deal
    }
    held = next(e for e in bad["errors"] if e["code"] == "STAGE_HAS_DEALS")
    assert held["message"] == (
        f"stage 'Due' holds 1 deal(s): 'Ada renewal' ({deal['id']}); move them before removing it"
    )
    changed = await edit(
        stages=[{"name": "Talk", "probability": 5}, kept("Due", kind="LOST"), won, lost]
    )
    assert [(e["code"], e["field"]) for e in changed["errors"]] == [
        ("STAGE_HAS_DEALS", ["input", "stages", "1", "kind"])
    ]
    stale = await edit(expectedVersion=0, name="Renewals 2027")
    assert stale["errors"][0]["code"] == "CONFLICT"

    done = await edit(
        expectedVersion=1,
        name="Renewals 2027",
        stages=[
            {"name": "Notice", "probability": 10},
            kept("Due", name="Due soon", probability=70),
            {"name": "Negotiation", "probability": 80},
            won,
            lost,
        ],
    )
    assert done["errors"] == []
    edited = done["pipeline"]
    assert (edited["name"], edited["version"]) == ("Renewals 2027", 2)
    assert [(s["name"], s["position"], s["probability"], s["kind"]) for s in edited["stages"]] == [
        ("Notice", 0, 10, "OPEN"),
        ("Due soon", 1, 70, "OPEN"),
        ("Negotiation", 2, 80, "OPEN"),
        ("Renewed", 3, 100, "WON"),
        ("Churned", 4, 0, "LOST"),
    ]
    assert edited["stages"][1]["id"] == stage["Due"]
    now = {s["name"]: s["id"] for s in edited["stages"]}
    assert (
        await sales.data(
            "query ($id: ID!) { deal(id: $id) { stage { name probability } } }", {"id": deal["id"]}
        )
    )["deal"] == {"stage": {"name": "Due soon", "probability": 70}}

    await move_deal(sales, id=deal["id"], stageId=now["Negotiation"])
    removed = await edit(
        expectedVersion=2,
        stages=[
            {"id": now["Negotiation"], "name": "Negotiation", "probability": 80},
            {"id": now["Notice"], "name": "Due soon", "probability": 10},  # the name is free again
            won,
            lost,
        ],
    )
    assert removed["errors"] == []
    assert [s["name"] for s in removed["pipeline"]["stages"]] == [
        "Negotiation",
        "Due soon",
        "Renewed",
        "Churned",
    ]
    history = await sales.data(
        "query ($id: ID!) { deal(id: $id) { stageHistory { stage { name } } } }", {"id": deal["id"]}
    )
    # The removed stage stays in the deal's history, under its last name.
    assert [h["stage"]["name"] for h in history["deal"]["stageHistory"]] == [
        "Due soon",
        "Negotiation",
    ]
    gone = await move_deal(sales, id=deal["id"], stageId=stage["Due"])
    assert gone["errors"] == [
        {"code": "NOT_FOUND", "message": "no such stage", "field": ["input", "stageId"]}
    ]
    there = await create_deal(sales, name="X", customerId=ada, amount="1", stageId=stage["Due"])
    assert [e["code"] for e in there["errors"]] == ["NOT_FOUND"]
    rep = sales.acting_as("sales", "sam")
    denied = await rep.execute(UPDATE_PIPELINE, {"input": {"id": pipeline["id"], "name": "Mine"}})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_deal_moves_through_stages_with_its_history_and_events(
    sales: GraphQLClient,
) -> None:
    ada = await new_customer(sales, "Ada")
    stage = await stages(sales)
    made = await create_deal(
        sales,
        name="Ada renewal",
        customerId=ada,
        amount="1200.5",
        currency="eur",
        expectedCloseDate="2027-03-31",
    )
    assert made["errors"] == []
    deal = made["deal"]
    assert deal["amount"] == {"amount": "1200.50", "currency": "EUR"}
    assert deal["stage"]["name"] == "Appointment scheduled"
    assert deal["status"] == "OPEN"
    assert deal["owner"] == {"userId": "test-admin"}

    stale = await move_deal(sales, id=deal["id"], stageId=stage["Contract sent"], expectedVersion=0)
    assert stale["errors"][0]["code"] == "CONFLICT"
    assert stale["errors"][0]["field"] == ["input", "expectedVersion"]
    forward = await move_deal(
        sales, id=deal["id"], stageId=stage["Contract sent"], expectedVersion=deal["version"]
    )
    assert forward["errors"] == []
    assert forward["deal"]["version"] == deal["version"] + 1
    back = await move_deal(sales, id=deal["id"], stageId=stage["Qualified to buy"])
    assert back["deal"]["stage"]["name"] == "Qualified to buy"
    unexplained = await move_deal(sales, id=deal["id"], stageId=stage["Closed lost"])
    assert unexplained["errors"] == [
        {
            "code": "REQUIRED",
            "message": "a lost deal needs its lost reason",
            "field": ["input", "lostReason"],
        }
    ]
    lost = await move_deal(
        sales, id=deal["id"], stageId=stage["Closed lost"], lostReason="Went with a competitor"
    )
    assert lost["deal"]["status"] == "LOST"
    assert lost["deal"]["lostReason"] == "Went with a competitor"
    assert lost["deal"]["closedAt"] is not None
    won = await move_deal(sales, id=deal["id"], stageId=stage["Closed won"])
    assert (won["deal"]["status"], won["deal"]["lostReason"]) == ("WON", None)

    history = (
        await sales.data(
            "query ($id: ID!) { deal(id: $id) { stageHistory { fromStage { name } stage { name } "
            "enteredAt leftAt secondsInStage changedBy } } }",
            {"id": deal["id"]},
        )
    )["deal"]["stageHistory"]
    assert [(h["fromStage"] and h["fromStage"]["name"], h["stage"]["name"]) for h in history] == [
        (None, "Appointment scheduled"),
        ("Appointment scheduled", "Contract sent"),
        ("Contract sent", "Qualified to buy"),
        ("Qualified to buy", "Closed lost"),
        ("Closed lost", "Closed won"),
    ]
    assert all(h["leftAt"] == n["enteredAt"] for h, n in itertools.pairwise(history))
    assert history[-1]["leftAt"] is None
    assert {h["changedBy"] for h in history} == {"test-admin"}
    assert all(h["secondsInStage"] >= 0 for h in history)

    seen = await events(sales, "deal.created", "deal.stage_changed", "deal.won", "deal.lost")
    assert [e["type"] for e in seen] == [
        "deal.created",
        "deal.stage_changed",
        "deal.stage_changed",
        "deal.stage_changed",
        "deal.lost",
        "deal.stage_changed",
        "deal.won",
    ]
    assert {e["entityId"] for e in seen} == {deal["id"]}
    types = (await sales.data("{ eventTypes { name owner } }"))["eventTypes"]
    assert {t["name"] for t in types if t["owner"] == "sales"} >= {
        "deal.created",
        "deal.stage_changed",
        "deal.won",
        "deal.lost",
    }


async def test_bad_deals_are_refused_with_typed_errors_and_nothing_written(
    sales: GraphQLClient,
) -> None:
    ada = await new_customer(sales, "Ada")
    renewals = await sales.data(
        PIPELINE,
        {
            "input": {
                "name": "Renewals",
                "stages": [
                    {"name": "Due", "probability": 50},
                    {"name": "Won", "kind": "WON"},
                    {"name": "Lost", "kind": "LOST"},
                ],
            }
        },
    )
    assert renewals["createSalesPipeline"]["errors"] == []
    pipelines = (await sales.data("{ salesPipelines { id stages { id } } }"))["salesPipelines"]
    made = await create_deal(
        sales,
        name=" ",
        customerId=ada,
        amount="-1",
        currency="XXY",
        ownerId="nobody",
        pipelineId=pipelines[0]["id"],
        stageId=pipelines[1]["stages"][0]["id"],
    )
    assert {(e["code"], ".".join(e["field"])) for e in made["errors"]} == {
        ("REQUIRED", "input.name"),
        ("INVALID_CURRENCY", "input.currency"),
        ("INVALID_AMOUNT", "input.amount"),
        ("NOT_FOUND", "input.ownerId"),
        ("STAGE_NOT_IN_PIPELINE", "input.stageId"),
    }
    assert made["deal"] is None
    customer = await create_deal(
        sales, name="X", customerId=to_global_id("Customer", 999), amount="1"
    )
    assert customer["errors"] == [
        {"code": "NOT_FOUND", "message": "no such customer", "field": ["input", "customerId"]}
    ]
    count = await sales.data("{ deals { totalCount } }")
    assert count["deals"]["totalCount"] == 0
    assert await events(sales, "deal.created") == []


CUSTOMER_DEALS = """
query { customers(first: 50) { nodes { name
  deals { name amount { amount currency } status stage { name probability } }
  openDealValue { amount currency }
} } }
"""


async def test_customer_deals_and_open_value_per_currency_are_compiled(
    sales: GraphQLClient,
) -> None:
    stage = await stages(sales)
    ada, _bob = await new_customer(sales, "Ada"), await new_customer(sales, "Bob")
    await create_deal(sales, name="A1", customerId=ada, amount="100", currency="EUR")
    await create_deal(sales, name="A2", customerId=ada, amount="50.25", currency="EUR")
    await create_deal(sales, name="A3", customerId=ada, amount="70", currency="USD")
    won = (await create_deal(sales, name="A4", customerId=ada, amount="999", currency="EUR"))[
        "deal"
    ]
    await move_deal(sales, id=won["id"], stageId=stage["Closed won"])

    response = await sales.http.post("/graphql", json={"query": CUSTOMER_DEALS})
    assert response.headers["server-timing"] == 'plan;desc="compiled"'
    nodes = {n["name"]: n for n in response.json()["data"]["customers"]["nodes"]}
    assert [d["name"] for d in nodes["Ada"]["deals"]] == ["A4", "A3", "A2", "A1"]
    assert nodes["Ada"]["openDealValue"] == [
        {"amount": "150.25", "currency": "EUR"},
        {"amount": "70.00", "currency": "USD"},
    ]
    assert nodes["Bob"] == {"name": "Bob", "deals": [], "openDealValue": []}
    assert nodes["Ada"]["deals"][0]["stage"] == {"name": "Closed won", "probability": 100}

    with count_statements(sales.app) as few:
        await sales.data(CUSTOMER_DEALS)
    for n in range(10):
        carol = await new_customer(sales, f"C{n}")
        await create_deal(sales, name=f"C{n}", customerId=carol, amount="1")
    with count_statements(sales.app) as many:
        await sales.data(CUSTOMER_DEALS)
    assert len(beyond_authentication(many)) == len(beyond_authentication(few))


DEALS = """
query ($filter: DealFilter, $orderBy: DealOrderBy, $first: Int, $after: String) {
  deals(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { name }
  }
}
"""


async def test_deals_filter_and_order(sales: GraphQLClient) -> None:
    stage = await stages(sales)
    ada, bob = await new_customer(sales, "Ada"), await new_customer(sales, "Bob")
    for name, customer, amount, close in [
        ("Small", ada, "10", "2027-01-10"),
        ("Big", ada, "900", "2027-02-10"),
        ("Middle", bob, "300", None),
        ("Huge", bob, "5000", "2027-06-01"),
    ]:
        await create_deal(
            sales, name=name, customerId=customer, amount=amount, expectedCloseDate=close
        )
    huge = (await sales.data('{ deals(filter: {search: "hug"}) { nodes { id } } }'))["deals"]
    await move_deal(sales, id=huge["nodes"][0]["id"], stageId=stage["Closed won"])

    async def names(**variables) -> list[str]:
        return [n["name"] for n in (await sales.data(DEALS, variables))["deals"]["nodes"]]

    by_amount = {"field": "AMOUNT", "direction": "DESC"}
    assert await names(orderBy=by_amount) == ["Huge", "Big", "Middle", "Small"]
    assert await names(filter={"customerId": ada}, orderBy=by_amount) == ["Big", "Small"]
    assert await names(filter={"statuses": ["OPEN"]}, orderBy=by_amount) == [
        "Big",
        "Middle",
        "Small",
    ]
    assert await names(
        filter={"closeAfter": "2027-01-31", "closeBefore": "2027-12-31"}, orderBy=by_amount
    ) == ["Huge", "Big"]
    assert await names(filter={"stageIds": [stage["Closed won"]]}) == ["Huge"]
    assert await names(filter={"ownerIds": ["someone-else"]}) == []
    first = await sales.data(DEALS, {"orderBy": {"field": "NAME", "direction": "ASC"}, "first": 3})
    page = first["deals"]
    assert [n["name"] for n in page["nodes"]] == ["Big", "Huge", "Middle"]
    assert page["totalCount"] == 4 and page["pageInfo"]["hasNextPage"]
    rest = await names(
        orderBy={"field": "NAME", "direction": "ASC"}, after=page["pageInfo"]["endCursor"]
    )
    assert rest == ["Small"]
    bad = await sales.execute('{ deals(filter: {pipelineId: "nope"}) { totalCount } }')
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_ID"


async def test_reps_see_and_move_only_their_own_deals_managers_their_teams(
    sales: GraphQLClient,
) -> None:
    sam = sales.acting_as("sales", "sam")
    kim = sales.acting_as("sales", "kim")
    boss = sales.acting_as("sales_manager", "boss")
    for client in (sam, kim, boss):
        await client.data("{ viewer { role } }")  # each user exists from its first request
    team = await sales.data('mutation { createTeam(input: {name: "East"}) { team { id } } }')
    team_id = team["createTeam"]["team"]["id"]
    users = (await sales.data("{ users { nodes { id userId } } }"))["users"]["nodes"]
    ids = {u["userId"]: u["id"] for u in users}
    for user in ("sam", "boss"):
        await sales.data(
            "mutation ($t: ID!, $u: ID!) { addTeamMember(input: {teamId: $t, userId: $u}) "
            "{ errors { code } } }",
            {"t": team_id, "u": ids[user]},
        )
    stage = await stages(sales)
    sams_customer = await new_customer(sam, "Sam's customer")
    kims_customer = await new_customer(kim, "Kim's customer")
    sams = (await create_deal(sam, name="Sam's", customerId=sams_customer, amount="10"))["deal"]
    kims = (await create_deal(kim, name="Kim's", customerId=kims_customer, amount="20"))["deal"]
    assert sams["owner"] == {"userId": "sam"}
    handed = await create_deal(
        sam, name="For Kim", customerId=sams_customer, amount="1", ownerId="kim"
    )
    assert handed["errors"][0]["code"] == "FORBIDDEN"

    async def visible(client: GraphQLClient) -> list[str]:
        return sorted(
            n["name"] for n in (await client.data("{ deals { nodes { name } } }"))["deals"]["nodes"]
        )

    assert await visible(sam) == ["Sam's"]
    assert await visible(kim) == ["Kim's"]
    assert await visible(boss) == ["Sam's"]
    assert await visible(sales) == ["Kim's", "Sam's"]
    assert (await sam.data("query ($id: ID!) { deal(id: $id) { name } }", {"id": kims["id"]}))[
        "deal"
    ] is None
    taken = await move_deal(sam, id=kims["id"], stageId=stage["Closed won"])
    assert taken["errors"][0]["code"] == "NOT_FOUND"
    moved = await move_deal(boss, id=sams["id"], stageId=stage["Contract sent"])
    assert moved["errors"] == []
    readonly = sales.acting_as("readonly", "ro")
    denied = await readonly.execute(
        'mutation { moveDeal(input: {id: "x", stageId: "y"}) { errors { code } } }'
    )
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_merging_customers_moves_their_deals_to_the_survivor(sales: GraphQLClient) -> None:
    ada, ada2 = await new_customer(sales, "Ada"), await new_customer(sales, "Ada L.")
    await create_deal(sales, name="Old", customerId=ada2, amount="5")
    await create_deal(sales, name="Kept", customerId=ada, amount="7")
    merged = await sales.data(
        "mutation ($s: ID!, $m: ID!) { mergeCustomers(input: {survivorId: $s, mergedIds: [$m]}) "
        "{ errors { code } plan { moves { owner kind count } } } }",
        {"s": ada, "m": ada2},
    )
    payload = merged["mergeCustomers"]
    assert payload["errors"] == []
    assert {"owner": "sales", "kind": "deals", "count": 1} in payload["plan"]["moves"]
    deals = await sales.data(
        "query ($id: ID!) { customer(id: $id) { deals { name } openDealValue { amount } } }",
        {"id": ada},
    )
    assert sorted(d["name"] for d in deals["customer"]["deals"]) == ["Kept", "Old"]
    assert deals["customer"]["openDealValue"] == [{"amount": "12.00"}]
