"""The field contract: table-backed and batch fields cost one statement or one call per level
of a query, whatever the number of rows; their errors land at each parent's path; field
permissions and masks apply to them as to any field. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import strawberry

from crm_graph.domain import customers, orders, products
from crm_graph.plugin import (
    CustomerRow,
    OrderRow,
    OrderType,
    PluginMetadata,
    Related,
    RelatedRows,
    RequestContext,
    SchemaContribution,
    batch_field,
    hookimpl,
    personal_data,
    query_error,
    requires,
    table_field,
)
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, count_statements
from tests.helpers import beyond_authentication

NAME = "fieldtest"
ORDERS_EACH = 3
START = datetime(2024, 1, 1, tzinfo=UTC)


async def shouted(
    parents: list[CustomerRow], context: RequestContext, times: int = 1
) -> list[str | Exception]:
    """Records each call (how many parents, which argument); a customer called "Bad" fails."""
    context.app.plugin_state[NAME].append((len(parents), times))
    return [
        query_error("UNSHOUTABLE", f"{c.name} cannot be shouted", "nameShout")
        if c.name == "Bad"
        else c.name.upper() * times
        for c in parents
    ]


@strawberry.type
class CustomerFields:
    name_shout: str | None = batch_field(shouted, description="The name, loud.")
    latest_orders: list[OrderType] = table_field(
        RelatedRows(OrderRow, key="customer_id", order_by=("-placed_at", "-id"), limit=2),
        metadata=requires("orders:read"),
    )


@strawberry.type
class OrderFields:
    buyer_email: str | None = table_field(
        Related(CustomerRow, key="id", parent_key="customer_id"),
        column="email",
        metadata=personal_data("email"),
    )


class FieldsPlugin:
    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name=NAME, version="1.0")

    @hookimpl
    def crm_schema(self) -> SchemaContribution:
        return SchemaContribution(extend={"Customer": [CustomerFields], "Order": [OrderFields]})


@pytest.fixture
async def fields(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with app_client(settings, plugins=[FieldsPlugin()]) as client:
        client.app.state.crm.plugin_state[NAME] = []
        yield client


async def _seed(client: GraphQLClient, names: list[str]) -> None:
    async with client.app.state.crm.write() as session:
        product = await products.create_product(
            session, {"sku": f"S-{names[0]}", "name": "Thing", "price": "2.00"}, "USD"
        )
        for name in names:
            email = f"{name.lower()}@example.com"
            row = await customers.create_customer(session, {"name": name, "email": email}, "US")
            for n in range(ORDERS_EACH):
                await orders.place_order(
                    session,
                    row.id,
                    [orders.NewOrderLine(product.id, 1)],
                    "USD",
                    placed_at=START + timedelta(days=n),
                )


def _calls(client: GraphQLClient) -> list[tuple[int, int]]:
    return client.app.state.crm.plugin_state[NAME]


PAGE = """{ customers(first: 50) { nodes { name %s } } }"""
FIELDS = "nameShout(times: 2) latestOrders { placedAt buyerEmail }"


async def _page(client: GraphQLClient, selection: str) -> tuple[list[dict[str, Any]], int]:
    _calls(client).clear()
    with count_statements(client.app) as statements:
        data = await client.data(PAGE % selection)
    return data["customers"]["nodes"], len(beyond_authentication(statements))


async def test_one_statement_per_table_backed_level_and_one_call_per_batch_level(
    fields: GraphQLClient,
) -> None:
    await _seed(fields, [f"C{i}" for i in range(5)])
    _few, few_statements = await _page(fields, FIELDS)
    await _seed(fields, [f"D{i}" for i in range(45)])
    _plain, plain_statements = await _page(fields, "")
    nodes, statements = await _page(fields, FIELDS)

    assert len(nodes) == 50
    # latestOrders (the customers' level) and buyerEmail (the orders' level): one each.
    assert statements == few_statements == plain_statements + 2
    assert _calls(fields) == [(50, 2)]
    for node in nodes:
        assert node["nameShout"] == node["name"].upper() * 2
        placed = [o["placedAt"] for o in node["latestOrders"]]
        assert len(placed) == 2 and placed == sorted(placed, reverse=True)
        assert placed[0].startswith(f"2024-01-0{ORDERS_EACH}")
        assert {o["buyerEmail"] for o in node["latestOrders"]} == {
            f"{node['name'].lower()}@example.com"
        }

    # One call per distinct argument set, each with every parent of the level once.
    _calls(fields).clear()
    await fields.data(
        "{ customers(first: 50) { nodes { a: nameShout b: nameShout(times: 3) "
        "c: nameShout(times: 3) } } }"
    )
    assert sorted(_calls(fields)) == [(50, 1), (50, 3)]


async def test_an_error_for_one_parent_lands_at_that_parent_only(fields: GraphQLClient) -> None:
    await _seed(fields, ["Ann", "Bad", "Cid"])
    result = await fields.execute("{ customers(first: 3) { nodes { name nameShout } } }")
    nodes = result["data"]["customers"]["nodes"]
    bad = next(i for i, node in enumerate(nodes) if node["name"] == "Bad")
    assert [(e["path"], e["extensions"]["code"]) for e in result["errors"]] == [
        (["customers", "nodes", bad, "nameShout"], "UNSHOUTABLE")
    ]
    assert result["errors"][0]["message"] == "Bad cannot be shouted"
    assert [n["nameShout"] for n in nodes] == [
        None if n["name"] == "Bad" else n["name"].upper() for n in nodes
    ]


async def test_permissions_and_masks_apply_to_contract_fields(fields: GraphQLClient) -> None:
    await _seed(fields, ["Ada"])
    query = "{ customers(first: 1) { nodes { latestOrders { buyerEmail } } } }"
    analyst = await fields.acting_as("analyst").data(query)  # orders:read, no pii:read
    assert analyst["customers"]["nodes"][0]["latestOrders"][0] == {"buyerEmail": "a***@example.com"}
    admin = await fields.data(query)
    assert admin["customers"]["nodes"][0]["latestOrders"][0] == {"buyerEmail": "ada@example.com"}
    marketing = await fields.acting_as("marketing").execute(query)  # no orders:read
    assert [e["extensions"]["code"] for e in marketing["errors"]] == ["FORBIDDEN"]
    assert marketing["errors"][0]["path"] == ["customers", "nodes", 0, "latestOrders"]
