"""The plugins' lookups by ID (``deal``, ``lead``, ``company``, ``quote``, ``ticket``,
``audienceSegment``, ``emailCampaign``: lookup fields) and ``node``/``nodes`` of the plugin
types found by a ``RowLookup`` answer alike on the compiled read path and through strawberry,
for every role and two sales reps, and are served compiled; a record outside the caller's scope
is null on both, as one that does not exist: GraphQL over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import crm_marketing
import crm_sales
import crm_service
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from tests.marketing_support import create_segment
from tests.sales_support import create_deal, new_customer
from tests.service_support import new_ticket
from tests.test_compiled_reads import COMPILED, FALLBACK, ROLES, same_answer
from tests.test_marketing_reads import CAMPAIGN

PLUGINS = [crm_sales, crm_service, crm_marketing]

# What each type's objects are asked for: columns, computed fields, relations, batch fields.
SELECTIONS = {
    "Deal": "name amount { amount currency } status version stage { name } owner { userId } "
    "customer { name } quotes { id status }",
    "Lead": "name email status score owner { userId } convertedDeal { name }",
    "Company": "name domain size owner { userId } contacts { name } deals { name }",
    "Quote": "status validUntil contactEmail total { amount currency } lines { quantity } "
    "deal { name }",
    "SalesStage": "name position probability kind",
    "SalesTask": "title dueAt status overdue owner { userId } deal { name }",
    "SalesWebForm": "name",
    "LeadAssignmentRule": "name position",
    "Ticket": "subject status priority tags createdAt customer { name }",
    "AudienceSegment": "name kind size",
    "EmailCampaign": "name subject status segment { name }",
}
LOOKUPS = {
    "deal": "Deal",
    "lead": "Lead",
    "company": "Company",
    "quote": "Quote",
    "ticket": "Ticket",
    "audienceSegment": "AudienceSegment",
    "emailCampaign": "EmailCampaign",
}
# The plugin types node(id:) finds (each by a RowLookup).
NODE_TYPES = (
    "Deal",
    "Lead",
    "Company",
    "Quote",
    "SalesStage",
    "SalesTask",
    "SalesWebForm",
    "LeadAssignmentRule",
)


def node(type_name: str, many: bool = False) -> str:
    """``node`` (``nodes``) asking for ``type_name``'s fields (and core types' ``id``)."""
    root = "nodes(ids: $ids)" if many else "node(id: $id)"
    variable = "$ids: [ID!]!" if many else "$id: ID!"
    fragment = f"... on {type_name} {{ {SELECTIONS[type_name]} }}"
    return f"query ({variable}) {{ {root} {{ __typename id {fragment} }} }}"


# Principals: every role, as two reps (each owning records of their own) and the admin user.
USERS = ("sam", "kim", "test-admin")


def lookup(field: str) -> str:
    return f"query ($id: ID!) {{ one: {field}(id: $id) {{ __typename id {SELECTIONS[LOOKUPS[field]]} }} }}"


async def _made(client: GraphQLClient, mutation: str, variables: dict | None = None) -> str:
    data = await client.data(mutation, variables or {})
    (payload,) = data.values()
    assert payload["errors"] == [], payload
    (found,) = (value for key, value in payload.items() if key != "errors")
    return found["id"]


async def _records(client: GraphQLClient) -> dict[str, dict[str, str]]:
    """Records of every type looked up, by type and a name saying whose they are: Sam's and
    Kim's (each a rep owning their customers), and a deal owned by Sam on the admin's
    customer (outside Sam's customer scope), with its quote."""
    sam, kim = client.acting_as("sales", "sam"), client.acting_as("sales", "kim")
    ada, bo = await new_customer(sam, "Ada"), await new_customer(kim, "Bo")
    cyd = await new_customer(client, "Cyd")
    product = await _made(
        client,
        'mutation { createProduct(input: {sku: "P", name: "P", price: "10", currency: "USD"}) '
        "{ product { id } errors { code } } }",
    )
    records: dict[str, dict[str, str]] = {name: {} for name in SELECTIONS}
    for who, rep, customer in (("sam", sam, ada), ("kim", kim, bo), ("cyd", client, cyd)):
        owner = {"ownerId": "sam"} if who == "cyd" else {}
        deal = await create_deal(rep, name=f"{who} deal", customerId=customer, amount="10", **owner)
        records["Deal"][who] = deal["deal"]["id"]
        records["Quote"][who] = await _made(
            rep,
            "mutation ($d: ID!, $p: ID!) { createQuote(input: {dealId: $d, "
            'contactEmail: "buyer@example.com", lines: [{productId: $p, quantity: 2}]}) '
            "{ quote { id } errors { code } } }",
            {"d": deal["deal"]["id"], "p": product},
        )
        records["Ticket"][who] = (await new_ticket(client, customer, subject=f"{who} asks"))["id"]
        if who == "cyd":
            continue
        records["Lead"][who] = await _made(
            rep,
            f'mutation {{ createLead(input: {{name: "{who} lead", email: "{who}@example.com"}}) '
            "{ lead { id } errors { code } } }",
        )
        records["Company"][who] = await _made(
            rep,
            f'mutation {{ createCompany(input: {{name: "{who} Inc"}}) '
            "{ company { id } errors { code } } }",
        )
        records["SalesTask"][who] = await _made(
            rep,
            f'mutation {{ createSalesTask(input: {{title: "Call {who}", '
            'dueAt: "2030-01-01T09:00:00Z"}) { task { id } errors { code } } }',
        )
    records["SalesWebForm"]["all"] = await _made(
        client,
        'mutation { createSalesWebForm(input: {name: "Web"}) { form { id } errors { code } } }',
    )
    team = await _made(
        client, 'mutation { createTeam(input: {name: "SDR"}) { team { id } errors { code } } }'
    )
    records["LeadAssignmentRule"]["all"] = await _made(
        client,
        'mutation ($t: ID!) { createLeadAssignmentRule(input: {name: "All", teamId: $t}) '
        "{ rule { id } errors { code } } }",
        {"t": team},
    )
    pipeline = (await client.data("{ salesPipelines { stages { id } } }"))["salesPipelines"][0]
    records["SalesStage"]["all"] = pipeline["stages"][0]["id"]
    segment = await create_segment(client, name="Everyone", kind="STATIC")
    records["AudienceSegment"]["all"] = segment["segment"]["id"]
    campaign = await client.data(
        CAMPAIGN,
        {
            "input": {
                "name": "Spring",
                "segmentId": segment["segment"]["id"],
                "subject": "Hello",
                "sender": "Shop <news@shop.example>",
                "textTemplate": "Hi: {{ unsubscribe_url }}",
            }
        },
    )
    records["EmailCampaign"]["all"] = campaign["createEmailCampaign"]["campaign"]["id"]
    return records


@pytest.fixture
async def apps(
    settings: Settings,
) -> AsyncIterator[tuple[GraphQLClient, GraphQLClient, dict[str, dict[str, str]]]]:
    # A closer reads leads and deals, not quotes (see the last test).
    settings = settings.model_copy(
        update={"roles": {"closer": ["customers:read", "leads:read", "deals:read"]}}
    )
    async with app_client(settings, plugins=PLUGINS) as compiled:
        records = await _records(compiled)
        plain = settings.model_copy(update={"compiled_reads": False})
        async with app_client(plain, plugins=PLUGINS, migrate=False) as fallback:
            yield compiled, fallback, records


async def _alike(
    compiled: GraphQLClient, fallback: GraphQLClient, query: str, variables: dict[str, Any]
) -> Any:
    """The answer of every principal, the same on both paths and served compiled."""
    answers = {}
    for role in ROLES:
        for user in USERS:
            body, served = await same_answer(
                compiled.acting_as(role, user),
                fallback.acting_as(role, user),
                query,
                variables,
                f"{role} {user}",
            )
            assert served == COMPILED, (role, user, query, variables, body)
            answers[role, user] = body
    return answers


async def test_lookup_fields_answer_alike_and_compiled_for_every_role(apps: Any) -> None:
    compiled, fallback, records = apps
    for field, type_name in LOOKUPS.items():
        for who, record in records[type_name].items():
            answers = await _alike(compiled, fallback, lookup(field), {"id": record})
            found = answers["admin", "test-admin"]["data"]["one"]
            assert found["__typename"] == type_name and found["id"] == record, found
            if who in ("sam", "kim"):  # a rep sees their own, not the other's
                other = "kim" if who == "sam" else "sam"
                assert answers["sales", who]["data"]["one"]["id"] == record
                assert answers["sales", other]["data"]["one"] is None, (field, who)
    # Sam owns the deal on the admin's customer; its customer is outside his scope.
    for field, type_name in (("deal", "Deal"), ("quote", "Quote"), ("ticket", "Ticket")):
        body = await compiled.acting_as("sales", "sam").execute(
            lookup(field), {"id": records[type_name]["cyd"]}
        )
        assert body == {"data": {"one": None}}, (field, body)
    # The permission of the type: marketing reads no deals.
    denied = await compiled.acting_as("marketing").execute(
        lookup("deal"), {"id": records["Deal"]["sam"]}
    )
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_node_and_nodes_of_plugin_types_answer_alike_and_compiled(apps: Any) -> None:
    compiled, fallback, records = apps
    every = []
    for type_name in NODE_TYPES:
        for who, record in records[type_name].items():
            every.append(record)
            answers = await _alike(compiled, fallback, node(type_name), {"id": record})
            assert answers["admin", "test-admin"]["data"]["node"]["id"] == record
            if who in ("sam", "kim"):
                other = "kim" if who == "sam" else "sam"
                assert answers["sales", who]["data"]["node"]["id"] == record
                assert answers["sales", other]["data"]["node"] is None, (type_name, who)
        ids = list(records[type_name].values())
        await _alike(compiled, fallback, node(type_name, many=True), {"ids": ids})
    query = "query ($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
    answers = await _alike(compiled, fallback, query, {"ids": every})
    assert [n["id"] for n in answers["admin", "test-admin"]["data"]["nodes"]] == every
    sams = answers["sales", "sam"]
    assert sams["data"] is None and sams["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_bad_and_foreign_ids_are_the_same_errors_on_both_paths(apps: Any) -> None:
    """Strawberry answers them (the plan falls back), as before lookups were compiled."""
    compiled, fallback, _ = apps
    customer = (await compiled.data("{ customers(first: 1) { nodes { id } } }"))["customers"]
    for field in LOOKUPS:
        for bad in ("nonsense", customer["nodes"][0]["id"]):
            body, served = await same_answer(compiled, fallback, lookup(field), {"id": bad})
            assert body["data"] == {"one": None} and served == FALLBACK, (field, bad)
            assert body["errors"][0]["extensions"]["code"] in ("INVALID_ID", "WRONG_ID_TYPE")
    pipeline = (await compiled.data("{ salesPipelines { id } }"))["salesPipelines"][0]["id"]
    # An ID of another type than the fragment's answers that type's fields asked (a pipeline).
    body, served = await same_answer(compiled, fallback, node("Deal"), {"id": pipeline})
    assert body["data"]["node"] == {"__typename": "SalesPipeline", "id": pipeline}
    assert served == COMPILED


async def test_a_type_strawberry_must_resolve_leaves_only_its_ids_to_strawberry(apps: Any) -> None:
    """For a caller reading deals but not quotes, a lead's converted deal's quotes are a
    forbidden field inside a batch value, which the plan leaves to strawberry: a ``node``
    query asking for them is answered by strawberry for a lead's ID and compiled for a deal's,
    alike."""
    compiled, fallback, records = apps
    query = """query ($id: ID!) { node(id: $id) { __typename id
      ... on Lead { name convertedDeal { quotes { id } } } ... on Deal { name } } }"""
    closer = (compiled.acting_as("closer"), fallback.acting_as("closer"))
    body, served = await same_answer(*closer, query, {"id": records["Deal"]["sam"]})
    assert served == COMPILED and body["data"]["node"]["name"] == "sam deal"
    body, served = await same_answer(*closer, query, {"id": records["Lead"]["sam"]})
    assert served == FALLBACK and body["data"]["node"]["__typename"] == "Lead", body
