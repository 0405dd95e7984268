"""Relay global IDs: node/nodes for every type, opacity, and bad IDs anywhere in the API."""

from __future__ import annotations

import base64

from helpers import customer, interaction, line, order, product, query_error, rejected

from crm_graph.ids import to_global_id
from crm_graph.testing import GraphQLClient

NODE = """query($id: ID!) { node(id: $id) { __typename id
  ... on Customer { name } ... on Product { sku } ... on Order { number }
  ... on Interaction { subject } } }"""
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"


async def _one_of_each(client: GraphQLClient) -> dict[str, dict]:
    ada = await customer(client, "Ada")
    pen = await product(client, "PEN")
    placed = await order(client, ada["id"], [line(pen["id"])], number="N-1")
    logged = await interaction(client, ada["id"], subject="Hello")
    return {"Customer": ada, "Product": pen, "Order": placed, "Interaction": logged}


async def test_node_resolves_every_type(client: GraphQLClient) -> None:
    rows = await _one_of_each(client)
    expected = {"Customer": "name", "Product": "sku", "Order": "number", "Interaction": "subject"}
    for type_name, row in rows.items():
        found = (await client.data(NODE, {"id": row["id"]}))["node"]
        assert found["__typename"] == type_name and found["id"] == row["id"]
        key = expected[type_name]
        assert found[key] == row[key]

    ids = [row["id"] for row in rows.values()]
    unknown = to_global_id("Customer", 999)
    listed = (await client.data(NODES, {"ids": [ids[3], unknown, *ids[:3]]}))["nodes"]
    assert listed[1] is None
    assert [n["__typename"] for n in listed if n] == ["Interaction", "Customer", "Product", "Order"]
    assert (await client.data(NODES, {"ids": []}))["nodes"] == []

    assert len(set(ids)) == 4, "rows of different types with the same key get distinct IDs"
    for global_id in ids:
        assert not global_id.isdigit() and ":" not in global_id and "=" not in global_id


def _encoded(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


MALFORMED = [
    "",
    "42",
    "not base64!",
    _encoded("Customer"),
    _encoded("Customer:abc"),
    _encoded("Customer:-1"),
    _encoded("Customer:0"),
    _encoded("Customer: 1"),
    _encoded("Customer:99999999999999999999999"),
    _encoded("Nope:1"),
    _encoded("Customer:1") + "%%",
]


async def test_unknown_malformed_and_foreign_ids_in_queries(client: GraphQLClient) -> None:
    rows = await _one_of_each(client)
    for type_name in ("Customer", "Product", "Order", "Interaction"):
        assert (await client.data(NODE, {"id": to_global_id(type_name, 12345)}))["node"] is None
    missing = {"id": to_global_id("Customer", 7), "o": to_global_id("Order", 7)}
    lookups = "query($id: ID!, $o: ID!) { customer(id: $id) { id } order(id: $o) { id } }"
    assert await client.data(lookups, missing) == {"customer": None, "order": None}

    by_id = "query($id: ID!) { customer(id: $id) { id } }"
    for bad in MALFORMED:
        assert await query_error(client, NODE, {"id": bad}) == ("INVALID_ID", "id"), bad
        code, argument = await query_error(client, by_id, {"id": bad})
        assert argument == "id" and code in ("INVALID_ID", "WRONG_ID_TYPE"), bad
    result = await client.execute(NODES, {"ids": [rows["Customer"]["id"], "garbage"]})
    assert result["errors"][0]["extensions"]["code"] == "INVALID_ID"

    cases = [
        ("query($id: ID!) { customer(id: $id) { id } }", rows["Product"]["id"], "id"),
        ("query($id: ID!) { order(id: $id) { id } }", rows["Customer"]["id"], "id"),
        ("query($id: ID!) { product(id: $id) { id } }", rows["Order"]["id"], "id"),
        (
            "query($id: ID!) { orders(filter: {customerId: $id}) { totalCount } }",
            rows["Order"]["id"],
            "filter.customerId",
        ),
        (
            "query($id: ID!) { interactions(filter: {customerId: $id}) { totalCount } }",
            rows["Interaction"]["id"],
            "filter.customerId",
        ),
    ]
    for query, wrong, argument in cases:
        assert await query_error(client, query, {"id": wrong}) == ("WRONG_ID_TYPE", argument)


def _non_canonical(global_id: str) -> list[str]:
    """Other spellings of ``global_id`` that lenient decoding would take for the same row."""
    type_name, pk = base64.urlsafe_b64decode(global_id + "==").decode().split(":")
    arabic = pk.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    return [
        _encoded(f"{type_name}:{arabic}"),
        global_id + "=" * (-len(global_id) % 4 or 4),
        _encoded(f"{type_name}:0{pk}"),
        _encoded(f"{type_name}:+{pk}"),
        global_id[:4] + "\n" + global_id[4:],
    ]


async def test_only_the_canonical_form_of_an_id_resolves(client: GraphQLClient) -> None:
    """``Customer:٢٠٤`` in Arabic-Indic digits, padding, leading zeros or stray characters
    name no row, in queries and in mutation input alike."""
    rows = await _one_of_each(client)
    ada = rows["Customer"]["id"]
    assert (await client.data(NODE, {"id": ada}))["node"] is not None
    for other in _non_canonical(ada):
        assert await query_error(client, NODE, {"id": other}) == ("INVALID_ID", "id"), other
        errors = await rejected(client, "updateCustomer", {"id": other, "name": "Eve"})
        assert errors == [("INVALID_ID", "input.id")], other
        errors = await rejected(client, "logInteraction", {"customerId": other, "channel": "SMS"})
        assert errors == [("INVALID_ID", "input.customerId")], other


async def test_bad_ids_in_mutations_write_nothing(client: GraphQLClient) -> None:
    rows = await _one_of_each(client)
    customer_id, order_id = rows["Customer"]["id"], rows["Order"]["id"]
    cases = [  # mutation, ID field, other input, an ID of another type, an unknown ID
        ("updateCustomer", "id", {}, order_id, to_global_id("Customer", 404)),
        ("deleteCustomer", "id", {}, order_id, to_global_id("Customer", 404)),
        ("restoreCustomer", "id", {}, order_id, to_global_id("Customer", 404)),
        ("updateProduct", "id", {}, customer_id, to_global_id("Product", 404)),
        ("changeOrderStatus", "id", {"status": "PAID"}, customer_id, to_global_id("Order", 404)),
        ("logInteraction", "customerId", {"channel": "SMS"}, order_id, to_global_id("Customer", 9)),
    ]
    for mutation, field, other, wrong_type, unknown in cases:
        for bad, code in (
            ("@@", "INVALID_ID"),
            (wrong_type, "WRONG_ID_TYPE"),
            (unknown, "NOT_FOUND"),
        ):
            errors = await rejected(client, mutation, {field: bad, **other})
            assert errors == [(code, f"input.{field}")], (mutation, bad)
