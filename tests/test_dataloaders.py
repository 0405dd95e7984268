"""SQL statements per request grow with query depth, never with the number of rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm_graph.domain import customers, interactions, orders, products
from crm_graph.testing import GraphQLClient, count_statements
from tests.helpers import beyond_authentication

ORDERS_EACH, LINES_EACH, INTERACTIONS_EACH = 6, 2, 6
START = datetime(2024, 1, 1, tzinfo=UTC)
DASHBOARD = """{ customers(first: 50) { totalCount edges { node { id name
  orders(first: 5) { nodes { number placedAt total { amount currency }
    lines { quantity unitPrice { amount } product { sku name price { amount } } } } }
  interactions(first: 5) { nodes { channel subject occurredAt } } } } } }"""


async def _seed(client: GraphQLClient, first: int, count: int) -> None:
    """Customers ``first`` .. ``first + count - 1``, each with orders (several lines each)
    and interactions, written through the domain functions the mutations use."""
    async with client.app.state.crm.write() as session:
        catalogue = [
            await products.create_product(
                session, {"sku": f"P{first}-{n}", "name": f"Product {n}", "price": "2.50"}, "USD"
            )
            for n in range(LINES_EACH)
        ]
        for index in range(first, first + count):
            row = await customers.create_customer(session, {"name": f"Customer {index}"}, "US")
            for n in range(ORDERS_EACH):
                lines = [orders.NewOrderLine(p.id, n + 1) for p in catalogue]
                await orders.place_order(
                    session, row.id, lines, "USD", placed_at=START + timedelta(days=n)
                )
            for n in range(INTERACTIONS_EACH):
                await interactions.log_interaction(
                    session,
                    row.id,
                    channel="email",
                    subject=f"#{n}",
                    occurred_at=START + timedelta(hours=n),
                )


async def _dashboard(client: GraphQLClient) -> tuple[list[dict], int]:
    with count_statements(client.app) as statements:
        data = await client.data(DASHBOARD)
    return [edge["node"] for edge in data["customers"]["edges"]], len(
        beyond_authentication(statements)
    )


def _check(nodes: list[dict]) -> None:
    for node in nodes:
        placed = [o["placedAt"] for o in node["orders"]["nodes"]]
        assert len(placed) == 5 and placed == sorted(placed, reverse=True)
        for placed_order in node["orders"]["nodes"]:
            assert len(placed_order["lines"]) == LINES_EACH
            quantity = placed_order["lines"][0]["quantity"]
            assert placed_order["total"]["amount"] == f"{2.5 * quantity * LINES_EACH:.2f}"
        subjects = [i["subject"] for i in node["interactions"]["nodes"]]
        assert subjects == ["#5", "#4", "#3", "#2", "#1"]


NESTED = """{ orders(first: 20) { nodes { customer { name orders { totalCount } }
    lines { product { sku } } } }
  interactions(first: 20) { nodes { customer { interactions { totalCount } } } } }"""


async def _nested(client: GraphQLClient) -> int:
    with count_statements(client.app) as statements:
        data = await client.data(NESTED)
    assert len(data["orders"]["nodes"]) == 20
    counts = {n["customer"]["orders"]["totalCount"] for n in data["orders"]["nodes"]}
    assert counts == {ORDERS_EACH}
    return len(beyond_authentication(statements))


async def test_statement_count_does_not_depend_on_rows(client: GraphQLClient) -> None:
    await _seed(client, 0, 10)
    few, few_statements = await _dashboard(client)
    assert len(few) == 10
    _check(few)
    few_nested = await _nested(client)

    await _seed(client, 10, 45)
    many, many_statements = await _dashboard(client)
    assert len(many) == 50
    _check(many)

    assert few_statements == many_statements <= 8, (few_statements, many_statements)
    # orders, interactions, the customers of each (one statement per level: the compiled
    # path does not share them across levels as strawberry's loader did), lines, products,
    # two child pages and two counts
    assert few_nested == await _nested(client) <= 10, few_nested
