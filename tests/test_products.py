"""Products over GraphQL: Money prices in ISO 4217 currencies, unique SKUs, versioned updates."""

from __future__ import annotations

from helpers import ok, product, refused, rejected

from crm_graph.testing import GraphQLClient

LOOKUP = "query($id: ID, $sku: String) { product(id: $id, sku: $sku) { id sku name } }"


async def test_prices_are_money_in_the_currency_minor_unit(client: GraphQLClient) -> None:
    created = await product(client, " SKU-1 ", "19.9", "eur", name=" Widget ", category="tools")
    assert created["sku"] == "SKU-1" and created["name"] == "Widget"
    assert created["category"] == "tools" and created["version"] == 1
    assert created["price"] == {"amount": "19.90", "currency": "EUR"}

    assert (await product(client, "JP-1", "1500.5", "JPY"))["price"] == {
        "amount": "1500",
        "currency": "JPY",
    }
    assert (await product(client, "KW-1", "2.12345", "KWD"))["price"]["amount"] == "2.123"
    assert (await product(client, "US-1", "0.125", "USD"))["price"]["amount"] == "0.12"
    default = await ok(client, "createProduct", {"sku": "D", "name": "D", "price": "3"})
    assert default["product"]["price"] == {"amount": "3.00", "currency": "USD"}


async def test_update_price_currency_and_name(client: GraphQLClient) -> None:
    created = await product(client, "SKU-1", "10.00", "USD")
    change = {"id": created["id"], "price": "1200", "currency": "JPY", "expectedVersion": 1}
    updated = (await ok(client, "updateProduct", change))["product"]
    assert updated["price"] == {"amount": "1200", "currency": "JPY"} and updated["version"] == 2
    renamed = (await ok(client, "updateProduct", {"id": created["id"], "name": "Gadget"}))[
        "product"
    ]
    assert renamed["name"] == "Gadget" and renamed["sku"] == "SKU-1" and renamed["version"] == 3

    stale = {"id": created["id"], "price": "5", "expectedVersion": 2}
    assert await rejected(client, "updateProduct", stale) == [("CONFLICT", "input.expectedVersion")]
    assert await rejected(client, "updateProduct", {"id": created["id"], "sku": " "}) == [
        ("REQUIRED", "input.sku")
    ]
    nul = {"id": created["id"], "name": "a\x00b"}
    assert await refused(client, "updateProduct", nul) == ("INVALID_VALUE", "input.name")


async def test_lookup_by_id_or_sku_and_list(client: GraphQLClient) -> None:
    widget = await product(client, "W-1", name="Widget", category="tools")
    gadget = await product(client, "G-1", name="Gadget", category="toys")
    assert (await client.data(LOOKUP, {"sku": "W-1"}))["product"]["id"] == widget["id"]
    assert (await client.data(LOOKUP, {"id": gadget["id"]}))["product"]["sku"] == "G-1"
    assert (await client.data(LOOKUP, {"sku": "none"}))["product"] is None

    listed = await client.data("{ products { totalCount nodes { sku } } }")
    assert listed["products"] == {"totalCount": 2, "nodes": [{"sku": "G-1"}, {"sku": "W-1"}]}
    tools = await client.data('{ products(filter: {category: "tools"}) { nodes { sku } } }')
    assert tools["products"]["nodes"] == [{"sku": "W-1"}]
    found = await client.data('{ products(filter: {search: "gadg"}) { nodes { sku } } }')
    assert found["products"]["nodes"] == [{"sku": "G-1"}]


async def test_bad_currencies_prices_and_duplicate_skus(client: GraphQLClient) -> None:
    def new(**fields: str) -> dict[str, str]:
        return {"sku": "S", "name": "S", "price": "1", "currency": "USD", **fields}

    for currency in ("XYZ", "US", "dollars", ""):
        assert await rejected(client, "createProduct", new(currency=currency)) == [
            ("INVALID_CURRENCY", "input.currency")
        ]
    for price in ("-1", "1e20"):
        assert await rejected(client, "createProduct", new(price=price)) == [
            ("INVALID_AMOUNT", "input.price")
        ]
    await product(client, "SKU-1")
    other = await product(client, "SKU-2")
    assert await rejected(client, "createProduct", new(sku="SKU-1")) == [("DUPLICATE", "input.sku")]
    for change, error in (
        ({"sku": "SKU-1"}, ("DUPLICATE", "input.sku")),
        ({"currency": "ABC"}, ("INVALID_CURRENCY", "input.currency")),
    ):
        assert await rejected(client, "updateProduct", {"id": other["id"], **change}) == [error]
