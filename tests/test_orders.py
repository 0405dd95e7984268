"""Orders over GraphQL: totals from lines, currencies, listings, status lifecycle, bad lines."""

from __future__ import annotations

from helpers import customer, line, ok, order, product, refused, rejected, snapshot

from crm_graph.ids import to_global_id
from crm_graph.testing import GraphQLClient

STATUSES = ("PENDING", "PAID", "FULFILLED", "CANCELLED", "REFUNDED")
# The specification of the lifecycle, written out independently of the code.
ALLOWED = {
    ("PENDING", "PAID"),
    ("PENDING", "CANCELLED"),
    ("PAID", "FULFILLED"),
    ("PAID", "CANCELLED"),
    ("PAID", "REFUNDED"),
    ("FULFILLED", "REFUNDED"),
}
# How to bring a new (pending) order into each status.
PATHS = {
    "PENDING": [],
    "PAID": ["PAID"],
    "FULFILLED": ["PAID", "FULFILLED"],
    "CANCELLED": ["CANCELLED"],
    "REFUNDED": ["PAID", "REFUNDED"],
}
CUSTOMER_ORDERS = "query($id: ID!) { customer(id: $id) { orders { totalCount nodes { number } } } }"


def _priced(quantity: int, sku: str, amount: str, currency: str = "USD") -> dict:
    return {
        "quantity": quantity,
        "product": {"sku": sku},
        "unitPrice": {"amount": amount, "currency": currency},
    }


async def test_total_is_the_sum_of_the_lines(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada")
    pen = await product(client, "PEN", "1.99")
    ink = await product(client, "INK", "12.50")
    lines = [line(pen["id"], 3), line(ink["id"], 2), line(pen["id"], 1, "0.10")]
    placed = await order(client, ada["id"], lines, currency="usd", number="A-1")
    assert placed["total"] == {"amount": "31.07", "currency": "USD"}
    assert placed["currency"] == "USD" and placed["number"] == "A-1"
    assert placed["status"] == "PENDING" and placed["version"] == 1
    assert placed["customer"]["id"] == ada["id"]
    assert placed["lines"] == [
        _priced(3, "PEN", "1.99"),
        _priced(2, "INK", "12.50"),
        _priced(1, "PEN", "0.10"),
    ]

    generated = await order(client, ada["id"], [line(pen["id"])])
    assert generated["number"].startswith("ORD-") and generated["total"]["amount"] == "1.99"
    again = {"customerId": ada["id"], "lines": [line(pen["id"])], "number": "A-1"}
    assert await rejected(client, "placeOrder", again) == [("DUPLICATE", "input.number")]


async def test_currencies_and_their_minor_units(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada")
    tea = await product(client, "TEA", "1500", "JPY")
    oil = await product(client, "OIL", "1.234", "KWD")
    usd = await product(client, "USD-1", "2.00")
    yen_lines = [line(tea["id"], 3), line(tea["id"], 2, "99.5")]
    yen = await order(client, ada["id"], yen_lines, currency="JPY")
    assert yen["total"] == {"amount": "4700", "currency": "JPY"}
    assert yen["lines"][1] == _priced(2, "TEA", "100", "JPY"), "99.5 rounds half to even"
    dinar = await order(client, ada["id"], [line(oil["id"], 3)], currency="KWD")
    assert dinar["total"] == {"amount": "3.702", "currency": "KWD"}
    default = await order(client, ada["id"], [line(usd["id"], 2)])
    assert default["total"] == {"amount": "4.00", "currency": "USD"}
    priced = await order(client, ada["id"], [line(tea["id"], 1, "3.30")], currency="USD")
    assert priced["total"]["amount"] == "3.30"

    mismatch = {"customerId": ada["id"], "lines": [line(usd["id"]), line(tea["id"])]}
    assert await rejected(client, "placeOrder", mismatch) == [
        ("CURRENCY_MISMATCH", "input.lines.1.unitPrice")
    ]


async def test_customer_orders_newest_first(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada")
    grace = await customer(client, "Grace")
    pen = await product(client, "PEN")
    for number, day in (("B", 2), ("A", 1), ("C", 3)):
        await order(client, ada["id"], [line(pen["id"])], number=number, placedAt=_day(day))
    await order(client, grace["id"], [line(pen["id"])], number="G", placedAt=_day(4))

    listed = await client.data(CUSTOMER_ORDERS, {"id": ada["id"]})
    assert listed["customer"]["orders"] == {
        "totalCount": 3,
        "nodes": [{"number": "C"}, {"number": "B"}, {"number": "A"}],
    }
    oldest = await client.data(
        "query($id: ID!) { customer(id: $id) { orders(first: 2, orderBy: {direction: ASC}) "
        "{ nodes { number } pageInfo { hasNextPage } } } }",
        {"id": ada["id"]},
    )
    assert oldest["customer"]["orders"] == {
        "nodes": [{"number": "A"}, {"number": "B"}],
        "pageInfo": {"hasNextPage": True},
    }


def _day(day: int) -> str:
    return f"2024-03-{day:02d}T10:00:00+00:00"


async def test_top_level_orders_with_filters(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada")
    grace = await customer(client, "Grace")
    pen = await product(client, "PEN", "2.00")
    tea = await product(client, "TEA", "500", "JPY")
    await order(client, ada["id"], [line(pen["id"], 1)], number="A1", placedAt=_day(1))
    paid = await order(client, ada["id"], [line(pen["id"], 5)], number="A2", placedAt=_day(2))
    await ok(client, "changeOrderStatus", {"id": paid["id"], "status": "PAID"})
    await order(
        client, grace["id"], [line(tea["id"])], currency="JPY", number="G1", placedAt=_day(3)
    )

    async def numbers(arguments: str = "") -> list[str]:
        suffix = f"({arguments})" if arguments else ""
        data = await client.data(f"{{ orders{suffix} {{ nodes {{ number }} }} }}")
        return [n["number"] for n in data["orders"]["nodes"]]

    assert await numbers() == ["G1", "A2", "A1"]
    assert await numbers(f'filter: {{customerId: "{ada["id"]}"}}') == ["A2", "A1"]
    assert await numbers("filter: {statuses: [PAID]}") == ["A2"]
    assert await numbers("filter: {statuses: [PENDING, PAID]}") == ["G1", "A2", "A1"]
    assert await numbers('filter: {currency: "jpy"}') == ["G1"]
    assert await numbers(f'filter: {{placedAfter: "{_day(2)}"}}') == ["G1", "A2"]
    assert await numbers(f'filter: {{placedBefore: "{_day(2)}"}}') == ["A1"]
    assert await numbers("orderBy: {field: TOTAL, direction: ASC}") == ["A1", "A2", "G1"]
    assert await numbers("orderBy: {field: PLACED_AT, direction: ASC}") == ["A1", "A2", "G1"]


async def test_every_status_transition(client: GraphQLClient) -> None:
    """All 25 (from, to) pairs: allowed ones move the order, the rest are refused untouched."""
    ada = await customer(client, "Ada")
    pen = await product(client, "PEN")

    async def order_in(status: str) -> str:
        placed = await order(client, ada["id"], [line(pen["id"])])
        for step in PATHS[status]:
            await ok(client, "changeOrderStatus", {"id": placed["id"], "status": step})
        return placed["id"]

    outcomes = {}
    for source in STATUSES:
        stays = await order_in(source)  # refused changes leave it where it is
        for target in STATUSES:
            if (source, target) in ALLOWED:
                change = {"id": await order_in(source), "status": target}
                moved = (await ok(client, "changeOrderStatus", change))["order"]
                outcomes[source, target] = moved["status"] == target
            else:
                errors = await rejected(
                    client, "changeOrderStatus", {"id": stays, "status": target}
                )
                outcomes[source, target] = errors == [("INVALID_TRANSITION", "input.status")]
    assert all(outcomes.values()), [pair for pair, good in outcomes.items() if not good]
    assert len(outcomes) == 25


async def test_several_bad_lines_are_all_reported(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada")
    pen = await product(client, "PEN")
    ghost = to_global_id("Product", 9999)
    lines = [
        line(pen["id"], 1),
        line(ghost, 1),
        line(pen["id"], 0),
        line(to_global_id("Product", 8888), -2),
        line(pen["id"], 1, "-5"),
        line("not-an-id"),
        line(ada["id"], 0),
    ]
    assert sorted(
        await rejected(client, "placeOrder", {"customerId": ada["id"], "lines": lines})
    ) == [
        ("INVALID_AMOUNT", "input.lines.4.unitPrice"),
        ("INVALID_ID", "input.lines.5.productId"),
        ("INVALID_QUANTITY", "input.lines.2.quantity"),
        ("INVALID_QUANTITY", "input.lines.3.quantity"),
        ("INVALID_QUANTITY", "input.lines.6.quantity"),
        ("NOT_FOUND", "input.lines.1.productId"),
        ("NOT_FOUND", "input.lines.3.productId"),
        ("WRONG_ID_TYPE", "input.lines.6.productId"),
    ]


async def test_order_level_rejections(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada")
    pen = await product(client, "PEN")
    one = [line(pen["id"])]
    cases = [
        ({"customerId": ada["id"], "lines": []}, [("REQUIRED", "input.lines")]),
        (
            {"customerId": ada["id"], "lines": one, "currency": "XXY"},
            [("INVALID_CURRENCY", "input.currency")],
        ),
        (
            {"customerId": to_global_id("Customer", 999), "lines": one},
            [("NOT_FOUND", "input.customerId")],
        ),
        ({"customerId": pen["id"], "lines": one}, [("WRONG_ID_TYPE", "input.customerId")]),
        ({"customerId": "%%%", "lines": one}, [("INVALID_ID", "input.customerId")]),
    ]
    for input, expected in cases:
        assert await rejected(client, "placeOrder", input) == expected, input

    nul = {"customerId": ada["id"], "lines": one, "number": "N\x00"}
    assert await refused(client, "placeOrder", nul) == ("INVALID_VALUE", "input.number")
    await ok(client, "deleteCustomer", {"id": ada["id"]})
    assert await rejected(client, "placeOrder", {"customerId": ada["id"], "lines": one}) == [
        ("DELETED", "input.customerId")
    ]


async def test_status_change_rejections(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada")
    pen = await product(client, "PEN")
    placed = await order(client, ada["id"], [line(pen["id"])])
    paid = await ok(
        client, "changeOrderStatus", {"id": placed["id"], "status": "PAID", "expectedVersion": 1}
    )
    assert paid["order"]["version"] == 2
    stale = {"id": placed["id"], "status": "FULFILLED", "expectedVersion": 1}
    assert await rejected(client, "changeOrderStatus", stale) == [
        ("CONFLICT", "input.expectedVersion")
    ]
    for order_id, code in ((to_global_id("Order", 5), "NOT_FOUND"), ("zz", "INVALID_ID")):
        assert await rejected(client, "changeOrderStatus", {"id": order_id, "status": "PAID"}) == [
            (code, "input.id")
        ]


async def test_dates_that_utc_cannot_hold_are_refused_with_a_code(client: GraphQLClient) -> None:
    """A valid local time whose offset pushes it past year 9999 (or before year 1) in UTC is
    refused as INVALID_DATE naming the field (its dotted path, in the document's arguments or
    in a variable), in input, literals and filters: no Python OverflowError text, nothing
    written."""
    ada = await customer(client, "Ada")
    pen = await product(client, "PEN")
    for instant in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
        placed = {"customerId": ada["id"], "lines": [line(pen["id"])], "placedAt": instant}
        literal = (
            f'{{customerId: "{ada["id"]}", lines: [{{productId: "{pen["id"]}", quantity: 1}}], '
            f'placedAt: "{instant}"}}'
        )
        before = await snapshot(client)
        for document, variables in (
            (
                "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { errors { code } } }",
                {"input": placed},
            ),
            (f"mutation {{ placeOrder(input: {literal}) {{ errors {{ code }} }} }}", None),
        ):
            result = await client.execute(document, variables)
            assert await snapshot(client) == before
            [error] = result["errors"]
            assert error["extensions"] == {"code": "INVALID_DATE", "field": "input.placedAt"}
            assert "Overflow" not in error["message"]
        for document, variables, field in (
            (
                f'{{ orders(filter: {{placedAfter: "{instant}"}}) {{ totalCount }} }}',
                None,
                "filter.placedAfter",
            ),
            (
                f'{{ interactions(filter: {{occurredBefore: "{instant}"}}) {{ totalCount }} }}',
                None,
                "filter.occurredBefore",
            ),
            (
                "query($f: InteractionFilter) { interactions(filter: $f) { totalCount } }",
                {"f": {"occurredBefore": instant}},
                "f.occurredBefore",
            ),
        ):
            assert _fields(await client.execute(document, variables)) == [
                ("INVALID_DATE", field)
            ], document
    assert _fields(
        await client.execute('{ orders(filter: {placedAfter: "soon"}) { totalCount } }')
    ) == [("INVALID_DATE", "filter.placedAfter")]


def _fields(result: dict) -> list[tuple[str, str]]:
    return [(e["extensions"]["code"], e["extensions"].get("field")) for e in result["errors"]]
