"""Helpers of the marketing plugin's specs: customers, orders and segments made through
GraphQL, and waiting for what the plugin does after commits (event handlers, jobs)."""

from __future__ import annotations

from typing import Any

from crm_graph.testing import GraphQLClient

SEGMENT = "id name kind filter size refreshedAt"
CREATE_SEGMENT = f"""
mutation ($input: CreateAudienceSegmentInput!) {{
  createAudienceSegment(input: $input) {{ segment {{ {SEGMENT} }} errors {{ code message field }} }}
}}
"""
PREVIEW = "query ($id: ID!, $first: Int!) { audienceSegment(id: $id) { size preview(first: $first) { name } } }"


async def customer(client: GraphQLClient, name: str, **fields: Any) -> str:
    made = await client.data(
        "mutation ($input: CreateCustomerInput!) { createCustomer(input: $input)"
        " { customer { id } errors { code field } } }",
        {"input": {"name": name, **fields}},
    )
    assert made["createCustomer"]["errors"] == [], made
    return made["createCustomer"]["customer"]["id"]


async def product(client: GraphQLClient, sku: str, price: str, currency: str = "USD") -> str:
    made = await client.data(
        "mutation ($input: CreateProductInput!) { createProduct(input: $input)"
        " { product { id } errors { code } } }",
        {"input": {"sku": sku, "name": sku, "price": price, "currency": currency}},
    )
    return made["createProduct"]["product"]["id"]


async def order(
    client: GraphQLClient,
    customer_id: str,
    product_id: str,
    quantity: int = 1,
    status: str | None = "PAID",
    placed_at: str | None = None,
    currency: str | None = None,
) -> str:
    """An order, moved to ``status`` (``None``: left pending)."""
    made = await client.data(
        "mutation ($input: PlaceOrderInput!) { placeOrder(input: $input)"
        " { order { id } errors { code message field } } }",
        {
            "input": {
                "customerId": customer_id,
                "lines": [{"productId": product_id, "quantity": quantity}],
                "placedAt": placed_at,
                "currency": currency,
            }
        },
    )
    assert made["placeOrder"]["errors"] == [], made
    order_id = made["placeOrder"]["order"]["id"]
    for step in {
        "PAID": ["PAID"],
        "FULFILLED": ["PAID", "FULFILLED"],
        "REFUNDED": ["PAID", "REFUNDED"],
    }.get(status or "", []):
        changed = await client.data(
            "mutation ($input: ChangeOrderStatusInput!) { changeOrderStatus(input: $input)"
            " { errors { code message } } }",
            {"input": {"id": order_id, "status": step}},
        )
        assert changed["changeOrderStatus"]["errors"] == [], changed
    return order_id


async def create_segment(client: GraphQLClient, **input: Any) -> dict[str, Any]:
    return (await client.data(CREATE_SEGMENT, {"input": input}))["createAudienceSegment"]


def condition(field: str, operator: str, value: Any = None, **options: Any) -> dict[str, Any]:
    found = {"field": field, "operator": operator, **options}
    if value is not None:
        found["value"] = value
    return {"condition": found}


async def preview_names(client: GraphQLClient, segment_id: str, first: int = 100) -> list[str]:
    found = await client.data(PREVIEW, {"id": segment_id, "first": first})
    return [c["name"] for c in found["audienceSegment"]["preview"]]


async def size(client: GraphQLClient, segment_id: str) -> int:
    found = await client.data(PREVIEW, {"id": segment_id, "first": 1})
    return found["audienceSegment"]["size"]


async def events_of(client: GraphQLClient, *types: str) -> list[dict[str, Any]]:
    found = await client.data(
        "query ($types: [String!]) { events(types: $types, first: 100)"
        " { nodes { type entityId payload } } }",
        {"types": list(types)},
    )
    return found["events"]["nodes"]
