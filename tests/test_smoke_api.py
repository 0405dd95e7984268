"""Smoke: the core API answers on both databases (deeper specs live in the other test files)."""

from crm_graph.testing import GraphQLClient


async def test_create_and_list_customer(client: GraphQLClient) -> None:
    created = await client.data(
        'mutation { createCustomer(input: {name: "Ada", email: "ADA@example.com"}) '
        "{ customer { id email } errors { code } } }"
    )
    assert created["createCustomer"]["customer"]["email"] == "ada@example.com"
    listed = await client.data("{ customers { totalCount nodes { name } } }")
    assert listed["customers"] == {"totalCount": 1, "nodes": [{"name": "Ada"}]}
