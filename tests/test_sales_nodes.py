"""node(id:) and nodes(ids:) find every sales type, within the scope of the type's own list:
GraphQL over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import crm_sales
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, count_statements
from tests.helpers import beyond_authentication
from tests.sales_support import create_deal, new_customer

NODES = "query ($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
NODE = """
query ($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Deal { name stage { name } }
    ... on Lead { name }
    ... on Quote { status total { amount } }
    ... on SalesPipeline { name stages { name } }
  }
}
"""


@pytest.fixture
async def sales(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with app_client(settings, plugins=[crm_sales]) as client:
        yield client


async def _made(client: GraphQLClient, mutation: str, variables: dict | None = None) -> str:
    data = await client.data(mutation, variables or {})
    (payload,) = data.values()
    assert payload["errors"] == [], payload
    (found,) = (value for key, value in payload.items() if key != "errors")
    return found["id"]


async def test_node_finds_every_sales_type_within_the_callers_scope(sales: GraphQLClient) -> None:
    sam, kim = sales.acting_as("sales", "sam"), sales.acting_as("sales", "kim")
    ada = await new_customer(sam, "Ada")
    deal = (await create_deal(sam, name="Sam's deal", customerId=ada, amount="10"))["deal"]
    kims = (
        await create_deal(
            kim, name="Kim's deal", customerId=await new_customer(kim, "Bo"), amount="5"
        )
    )["deal"]
    product = await _made(
        sales,
        'mutation { createProduct(input: {sku: "P", name: "P", price: "10", currency: "USD"}) '
        "{ product { id } errors { code } } }",
    )
    quote = await _made(
        sam,
        "mutation ($d: ID!, $p: ID!) { createQuote(input: {dealId: $d, lines: [{productId: $p}]}) "
        "{ quote { id } errors { code } } }",
        {"d": deal["id"], "p": product},
    )
    lead = await _made(
        sam, 'mutation { createLead(input: {name: "Lee"}) { lead { id } errors { code } } }'
    )
    company = await _made(
        sam, 'mutation { createCompany(input: {name: "Acme"}) { company { id } errors { code } } }'
    )
    task = await _made(
        sam,
        'mutation { createSalesTask(input: {title: "Call", dueAt: "2030-01-01T09:00:00Z"}) '
        "{ task { id } errors { code } } }",
    )
    form = await _made(
        sales,
        'mutation { createSalesWebForm(input: {name: "Web"}) { form { id } errors { code } } }',
    )
    team = await _made(
        sales, 'mutation { createTeam(input: {name: "SDR"}) { team { id } errors { code } } }'
    )
    rule = await _made(
        sales,
        'mutation ($t: ID!) { createLeadAssignmentRule(input: {name: "All", teamId: $t}) '
        "{ rule { id } errors { code } } }",
        {"t": team},
    )
    pipeline = (await sales.data("{ salesPipelines { id stages { id } } }"))["salesPipelines"][0]
    stage = pipeline["stages"][0]["id"]

    expected = {
        deal["id"]: "Deal",
        pipeline["id"]: "SalesPipeline",
        stage: "SalesStage",
        lead: "Lead",
        company: "Company",
        task: "SalesTask",
        quote: "Quote",
        form: "SalesWebForm",
        rule: "LeadAssignmentRule",
    }
    found = (await sales.data(NODES, {"ids": list(expected)}))["nodes"]
    assert {n["id"]: n["__typename"] for n in found} == expected

    one = await sam.data(NODE, {"id": deal["id"]})
    assert one["node"] == {
        "__typename": "Deal",
        "id": deal["id"],
        "name": "Sam's deal",
        "stage": {"name": "Appointment scheduled"},
    }
    assert (await sam.data(NODE, {"id": quote}))["node"]["total"] == {"amount": "10.00"}
    assert (await sam.data(NODE, {"id": pipeline["id"]}))["node"]["stages"][0]["name"] == (
        "Appointment scheduled"
    )
    # Out of scope is as not there: Kim's deal, and Sam's records for Kim.
    assert (await sam.data(NODE, {"id": kims["id"]}))["node"] is None
    theirs = (await kim.data(NODES, {"ids": [deal["id"], lead, company, task, quote]}))["nodes"]
    assert theirs == [None] * 5
    # The type's permission: a rep manages no forms; marketing sees leads, not deals.
    denied = await sam.execute(NODE, {"id": form})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    marketing = sales.acting_as("marketing", "mo")
    assert (await marketing.data(NODE, {"id": lead}))["node"]["name"] == "Lee"
    refused = await marketing.execute(NODE, {"id": deal["id"]})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_nodes_of_one_type_are_read_together(sales: GraphQLClient) -> None:
    ada = await new_customer(sales, "Ada")
    ids = [
        (await create_deal(sales, name=f"D{n}", customerId=ada, amount="1"))["deal"]["id"]
        for n in range(6)
    ]
    query = "query ($ids: [ID!]!) { nodes(ids: $ids) { ... on Deal { name } } }"
    with count_statements(sales.app) as one:
        await sales.data(query, {"ids": ids[:1]})
    with count_statements(sales.app) as six:
        found = await sales.data(query, {"ids": ids})
    assert [n["name"] for n in found["nodes"]] == [f"D{n}" for n in range(6)]
    assert len(beyond_authentication(six)) == len(beyond_authentication(one))
