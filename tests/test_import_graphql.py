"""GraphQL bulk imports: ``importCustomers`` and ``importOrders``, with per-item errors."""

from __future__ import annotations

from crm_graph.testing import GraphQLClient

IMPORT_CUSTOMERS = """
mutation($input: [ImportCustomerInput!]!, $strict: Boolean! = false) {
  importCustomers(input: $input, strict: $strict) {
    inserted updated unchanged rejected
    errors { code field }
    results { index status errors { code message field } customer { externalId email attributes } }
  }
}"""

IMPORT_ORDERS = """
mutation($input: [ImportOrderInput!]!, $create: Boolean! = true) {
  importOrders(input: $input, createMissingCustomers: $create) {
    inserted updated unchanged rejected createdCustomers
    errors { code field }
    results { index status errors { code field }
              order { number total { amount currency } customer { externalId }
                      lines { quantity product { sku } unitPrice { amount } } } }
  }
}"""


async def test_import_customers_writes_good_items_and_reports_bad_ones(
    client: GraphQLClient,
) -> None:
    items = [
        {
            "externalId": "A",
            "name": "Ann",
            "email": "ANN@example.com",
            "attributes": {"country": "France"},
        },
        {"externalId": "B", "name": "Ben", "email": "not-an-email"},
        {"externalId": "C", "email": "c@example.com"},
    ]
    result = (await client.data(IMPORT_CUSTOMERS, {"input": items}))["importCustomers"]
    assert (result["inserted"], result["rejected"], result["errors"]) == (1, 2, [])
    ann, ben, cy = result["results"]
    assert ann["status"] == "INSERTED"
    assert ann["customer"] == {
        "externalId": "A",
        "email": "ann@example.com",
        "attributes": {"country": "FR"},
    }
    assert ben["status"] == "REJECTED" and ben["customer"] is None
    assert [(e["code"], e["field"]) for e in ben["errors"]] == [
        ("INVALID_EMAIL", ["input", "1", "email"])
    ]
    assert [(e["code"], e["field"]) for e in cy["errors"]] == [("REQUIRED", ["input", "2", "name"])]

    # The same validation as the single mutation, word for word.
    single = await client.data(
        'mutation { createCustomer(input: {name: "Ben", email: "not-an-email"}) '
        "{ errors { code message } } }"
    )
    assert single["createCustomer"]["errors"][0]["message"] == ben["errors"][0]["message"]

    # Again, with a patch of A's attributes: A changes, nothing else.
    again = [
        {"externalId": "A", "attributes": {"country": None, "tier": 2}},
        {"externalId": "B", "name": "Ben"},
    ]
    result = (await client.data(IMPORT_CUSTOMERS, {"input": again}))["importCustomers"]
    assert (result["inserted"], result["updated"], result["unchanged"]) == (1, 1, 0)
    assert result["results"][0]["customer"]["attributes"] == {"tier": 2}
    result = (await client.data(IMPORT_CUSTOMERS, {"input": again}))["importCustomers"]
    assert (result["inserted"], result["updated"], result["unchanged"]) == (0, 0, 2)


async def test_a_strict_import_with_a_bad_item_writes_nothing(client: GraphQLClient) -> None:
    items = [{"externalId": "A", "name": "Ann"}, {"externalId": "B", "name": " "}]
    result = (await client.data(IMPORT_CUSTOMERS, {"input": items, "strict": True}))[
        "importCustomers"
    ]
    assert result["errors"] == [{"code": "REQUIRED", "field": ["input", "1", "name"]}]
    assert (result["inserted"], result["results"]) == (0, [])
    assert (await client.data("{ customers { totalCount } }"))["customers"]["totalCount"] == 0


async def test_at_most_a_thousand_items(client: GraphQLClient) -> None:
    items = [{"externalId": f"X{i}", "name": "X"} for i in range(1001)]
    result = (await client.data(IMPORT_CUSTOMERS, {"input": items}))["importCustomers"]
    assert result["errors"] == [{"code": "TOO_MANY", "field": ["input"]}]
    assert (await client.data("{ customers { totalCount } }"))["customers"]["totalCount"] == 0


async def test_import_orders_by_sku_with_per_item_errors(client: GraphQLClient) -> None:
    await client.data(
        'mutation { createProduct(input: {sku: "P1", name: "Widget", price: "9.99", currency: "USD"}) '
        "{ errors { code } } }"
    )
    orders = [
        {
            "number": "O1",
            "customerExternalId": "NEW",
            "placedAt": "2024-01-05T10:00:00Z",
            "total": "19.98",
            "currency": "USD",
            "status": "PAID",
            "lines": [{"sku": "P1", "quantity": 2}],
        },
        {
            "number": "O2",
            "customerExternalId": "NEW",
            "placedAt": "2024-01-06T10:00:00Z",
            "total": "5",
            "lines": [{"sku": "MISSING"}, {"sku": "P1", "quantity": 0}],
        },
        {"customerExternalId": "NEW", "placedAt": "2024-01-07T00:00:00Z", "total": "1.5"},
    ]
    result = (await client.data(IMPORT_ORDERS, {"input": orders}))["importOrders"]
    assert (result["inserted"], result["rejected"], result["createdCustomers"]) == (2, 1, 1)
    first, second, third = result["results"]
    assert first["order"] == {
        "number": "O1",
        "total": {"amount": "19.98", "currency": "USD"},
        "customer": {"externalId": "NEW"},
        "lines": [{"quantity": 2, "product": {"sku": "P1"}, "unitPrice": {"amount": "9.99"}}],
    }
    assert sorted((e["code"], tuple(e["field"])) for e in second["errors"]) == [
        ("INVALID_QUANTITY", ("input", "1", "lines", "1", "quantity")),
        ("NOT_FOUND", ("input", "1", "lines", "0", "sku")),
    ]
    assert third["order"]["number"].startswith("IMP-")

    # A retry is a no-op, even for the order that had no number.
    retry = (await client.data(IMPORT_ORDERS, {"input": [orders[0], orders[2]]}))["importOrders"]
    assert (retry["inserted"], retry["unchanged"]) == (0, 2)

    refused = (
        await client.data(
            IMPORT_ORDERS,
            {"input": [{**orders[0], "customerExternalId": "GHOST"}], "create": False},
        )
    )["importOrders"]
    assert refused["results"][0]["errors"] == [
        {"code": "NOT_FOUND", "field": ["input", "0", "customerExternalId"]}
    ]


async def _new_customer(client: GraphQLClient, external_id: str) -> str:
    created = await client.data(
        "mutation ($x: String!) { createCustomer(input: {name: $x, externalId: $x}) "
        "{ customer { id } } }",
        {"x": external_id},
    )
    return created["createCustomer"]["customer"]["id"]


async def test_an_import_refuses_deleted_and_merged_customers_as_an_upsert_does(
    client: GraphQLClient,
) -> None:
    deleted, merged, survivor = [await _new_customer(client, x) for x in ("D", "M", "S")]
    await client.data(
        "mutation ($id: ID!) { deleteCustomer(input: {id: $id}) { errors { code } } }",
        {"id": deleted},
    )
    await client.data(
        "mutation ($s: ID!, $m: [ID!]!) { mergeCustomers(input: {survivorId: $s, mergedIds: $m})"
        " { errors { code } } }",
        {"s": survivor, "m": [merged]},
    )
    items = [{"externalId": "D", "name": "Dee"}, {"externalId": "M", "name": "Em"}]
    result = (await client.data(IMPORT_CUSTOMERS, {"input": items}))["importCustomers"]
    imported = [
        [(e["code"], e["message"], e["field"]) for e in item["errors"]]
        for item in result["results"]
    ]

    upserted = []
    for index, item in enumerate(items):
        single = await client.data(
            "mutation ($x: String!, $n: String!) { upsertCustomer(input: {externalId: $x, "
            "name: $n}) { errors { code message field } } }",
            {"x": item["externalId"], "n": item["name"]},
        )
        errors = single["upsertCustomer"]["errors"]
        upserted.append(
            [
                (e["code"], e["message"], [e["field"][0], str(index), *e["field"][1:]])
                for e in errors
            ]
        )
    assert [[code for code, *_ in item] for item in imported] == [["DELETED"], ["MERGED"]]
    assert imported == upserted


async def test_an_imported_order_line_keeps_to_the_quantities_a_placed_one_does(
    client: GraphQLClient,
) -> None:
    product = await client.data(
        'mutation { createProduct(input: {sku: "P1", name: "Widget", price: "2", currency: "USD"})'
        " { product { id } } }"
    )
    customer = await _new_customer(client, "C")
    placed = await client.data(
        'mutation ($c: ID!, $p: ID!) { placeOrder(input: {customerId: $c, currency: "USD", '
        "lines: [{productId: $p, quantity: 0}]}) { errors { code message } } }",
        {"c": customer, "p": product["createProduct"]["product"]["id"]},
    )
    order = {
        "customerExternalId": "C",
        "placedAt": "2024-01-05T10:00:00Z",
        "total": "0",
        "currency": "USD",
        "lines": [{"sku": "P1", "quantity": 0}],
    }
    imported = await client.data(
        "mutation ($o: [ImportOrderInput!]!) { importOrders(input: $o) "
        "{ results { errors { code message } } } }",
        {"o": [order]},
    )
    assert imported["importOrders"]["results"][0]["errors"] == placed["placeOrder"]["errors"]
    assert [e["code"] for e in placed["placeOrder"]["errors"]] == ["INVALID_QUANTITY"]
