"""Abuse limits: hostile documents are refused before any resolver or SQL runs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import strawberry

from crm_graph.plugin import PluginMetadata, SchemaContribution, hookimpl
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, count_statements
from tests.helpers import beyond_authentication


def _codes(result: dict) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in result.get("errors", [])]


def _messages(result: dict) -> str:
    return " | ".join(e["message"] for e in result.get("errors", []))


async def test_depth_over_the_limit_is_refused_without_sql(client: GraphQLClient) -> None:
    deep = "{ customers { nodes { orders { nodes { customer { orders { nodes { customer { orders { nodes { customer { orders { nodes { customer { id } } } } } } } } } } } } } } }"
    with count_statements(client.app) as statements:
        result = await client.execute(deep)
    assert result["data"] is None
    assert "exceeds maximum operation depth" in _messages(result)
    assert beyond_authentication(statements) == []


async def test_depth_counts_through_fragments_and_fragment_cycles_are_refused(
    client: GraphQLClient,
) -> None:
    cyclic = "query { customers { nodes { ...A } } } fragment A on Customer { orders { nodes { customer { ...B } } } } fragment B on Customer { ...A }"
    result = await client.execute(cyclic)
    assert result["data"] is None
    assert "Cannot spread fragment" in _messages(result)


async def test_alias_flood_counted_through_fragments(client: GraphQLClient) -> None:
    aliases = " ".join(f"a{i}: name" for i in range(10))
    more = " ".join(f"b{i}: email" for i in range(6))
    document = (
        f"{{ customers {{ nodes {{ ...F {aliases} }} }} }} fragment F on Customer {{ {more} }}"
    )
    result = await client.execute(document)
    assert "16 aliases found. Allowed: 15" in _messages(result)


async def test_token_limit(client: GraphQLClient) -> None:
    fields = " ".join(["id"] * 2100)
    result = await client.execute(f"{{ customers {{ nodes {{ {fields} }} }} }}")
    assert result["data"] is None
    assert "token" in _messages(result).lower()


async def test_cost_multiplies_requested_page_sizes(client: GraphQLClient) -> None:
    costly = "{ customers(first: 100) { nodes { orders(first: 100) { nodes { lines { quantity } number } } } } }"
    with count_statements(client.app) as statements:
        result = await client.execute(costly)
    assert _codes(result) == ["QUERY_TOO_COSTLY"]
    assert beyond_authentication(statements) == []
    # Variables count as the largest page size, since validation runs before they are known.
    via_vars = await client.execute(
        "query($n: Int) { customers(first: $n) { nodes { orders(first: $n) { nodes { lines { quantity } number } } } } }",
        {"n": 1},
    )
    assert _codes(via_vars) == ["QUERY_TOO_COSTLY"]
    fine = await client.execute(
        "{ customers(first: 50) { nodes { orders(first: 5) { nodes { number } } } } }"
    )
    assert "errors" not in fine


async def test_oversized_body_gets_413(client: GraphQLClient) -> None:
    body = json.dumps(
        {"query": "{ customers { totalCount } }", "variables": {"pad": "x" * 1_100_000}}
    )
    response = await client.http.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BODY_TOO_LARGE"


async def test_batched_requests_are_refused(client: GraphQLClient) -> None:
    batch = [{"query": "{ customers { totalCount } }"}] * 2
    response = await client.http.post("/graphql", json=batch)
    assert response.status_code == 400


async def test_no_mutations_over_get(client: GraphQLClient) -> None:
    response = await client.http.get(
        "/graphql",
        params={"query": 'mutation { createCustomer(input: {name: "X"}) { errors { code } } }'},
    )
    assert response.status_code == 400
    assert "mutations are not allowed" in response.text.lower()
    listed = await client.data("{ customers { totalCount } }")
    assert listed["customers"]["totalCount"] == 0


class Exploding:
    """A plugin whose field fails unexpectedly, with internals in the message."""

    @strawberry.type
    class Fields:
        @strawberry.field
        def explode(self) -> int:
            raise RuntimeError("SELECT secret FROM internals")

    @staticmethod
    @hookimpl
    def crm_plugin_metadata() -> PluginMetadata:
        return PluginMetadata(name="exploding", version="1.0")

    @staticmethod
    @hookimpl
    def crm_schema() -> SchemaContribution:
        return SchemaContribution(extend={"Query": [Exploding.Fields]})


@pytest.fixture
async def production(database_url: str) -> AsyncIterator[GraphQLClient]:
    settings = Settings(database_url=database_url, plugins=[], env="production")
    async with app_client(settings, plugins=[Exploding]) as graphql:
        yield graphql


async def test_production_masks_unexpected_errors_but_keeps_coded_ones(
    production: GraphQLClient,
) -> None:
    masked = await production.execute("{ explode }")
    assert _codes(masked) == ["INTERNAL_ERROR"] and "SELECT" not in _messages(masked)
    coded = await production.execute('{ node(id: "not-an-id") { id } }')
    assert _codes(coded) == ["INVALID_ID"]


async def test_production_disables_introspection_and_graphiql(production: GraphQLClient) -> None:
    result = await production.execute("{ __schema { types { name } } }")
    assert result.get("data") is None and "introspection" in _messages(result).lower()
    page = await production.http.get("/graphql", headers={"accept": "text/html"})
    assert "graphiql" not in page.text.lower()


MISSPELLED = [
    ("{ custmer { id } }", None),
    ("{ customers(frist: 1) { totalCount } }", None),
    ("query($c: Custmer) { customers { totalCount } }", None),
    ('mutation { createCustomer(input: {nam: "x"}) { errors { code } } }', None),
    (
        "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { errors { code } } }",
        {"i": {"name": "x", "emial": "x@example.com"}},
    ),
]


async def test_production_suggests_no_names(
    production: GraphQLClient, client: GraphQLClient
) -> None:
    """Suggestions ("Did you mean ...?") reveal the schema: off where introspection is off,
    for fields, arguments, types and input fields, in the document and in variables alike."""
    for document, variables in MISSPELLED:
        result = await production.execute(document, variables)
        assert result["errors"] and "Did you mean" not in _messages(result), result
        assert "Did you mean" in _messages(await client.execute(document, variables))
