"""Seeding and inspection helpers for the core API specs: everything goes through GraphQL.

``snapshot`` reads every row straight from the database, so a spec can prove that a
rejected mutation wrote nothing at all (not merely that the payload said so).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, inspect, text

from crm_graph.testing import GraphQLClient

CUSTOMER = (
    "id externalId name email phone company lifecycleStage tags attributes "
    "createdAt updatedAt deletedAt version"
)
PRODUCT = "id sku name category price { amount currency } version"
ORDER = (
    "id number status currency placedAt version total { amount currency } "
    "lines { quantity product { sku } unitPrice { amount currency } } customer { id }"
)
INTERACTION = "id channel direction subject body occurredAt customer { id }"
SELECTIONS = {
    "createCustomer": f"customer {{ {CUSTOMER} }}",
    "updateCustomer": f"customer {{ {CUSTOMER} }}",
    "deleteCustomer": f"customer {{ {CUSTOMER} }}",
    "restoreCustomer": f"customer {{ {CUSTOMER} }}",
    "upsertCustomer": f"created customer {{ {CUSTOMER} }}",
    "createProduct": f"product {{ {PRODUCT} }}",
    "updateProduct": f"product {{ {PRODUCT} }}",
    "placeOrder": f"order {{ {ORDER} }}",
    "changeOrderStatus": f"order {{ {ORDER} }}",
    "logInteraction": f"interaction {{ {INTERACTION} }}",
}


def _mutation(name: str) -> str:
    input_type = name[0].upper() + name[1:] + "Input"
    return (
        f"mutation($input: {input_type}!) {{ {name}(input: $input) "
        f"{{ {SELECTIONS[name]} errors {{ code message field }} }} }}"
    )


async def mutate(client: GraphQLClient, name: str, input: dict[str, Any]) -> dict[str, Any]:
    """Run mutation ``name`` with ``input``; returns its payload (result and user errors)."""
    return (await client.data(_mutation(name), {"input": input}))[name]


async def ok(client: GraphQLClient, name: str, input: dict[str, Any]) -> dict[str, Any]:
    """Like :func:`mutate`, for input that must be accepted."""
    payload = await mutate(client, name, input)
    assert payload["errors"] == [], payload["errors"]
    return payload


def errors_of(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """A payload's user errors as (code, dotted field path), for compact assertions."""
    return [(e["code"], ".".join(e["field"])) for e in payload["errors"]]


async def rejected(
    client: GraphQLClient, name: str, input: dict[str, Any]
) -> list[tuple[str, str]]:
    """Run a mutation that must fail; checks that nothing changed and returns its errors."""
    before = await snapshot(client)
    payload = await mutate(client, name, input)
    _unchanged(before, await snapshot(client), f"{name} returned errors")
    result = next(v for k, v in payload.items() if k not in ("errors", "created"))
    assert result is None
    assert all(e["message"] for e in payload["errors"])
    return errors_of(payload)


async def refused(client: GraphQLClient, name: str, input: dict[str, Any]) -> tuple[str, str]:
    """Run a mutation the server refuses as a whole (a GraphQL error, e.g. for NUL bytes);
    checks that nothing changed and returns (code, dotted field path)."""
    before = await snapshot(client)
    error = await query_error(client, _mutation(name), {"input": input})
    _unchanged(before, await snapshot(client), f"{name} was refused")
    return error


def _unchanged(before: dict[str, list], after: dict[str, list], why: str) -> None:
    changed = {
        name: (before.get(name), rows) for name, rows in after.items() if before.get(name) != rows
    }
    assert not changed, f"{why} but wrote: {changed}"


async def query_error(
    client: GraphQLClient, query: str, variables: dict[str, Any] | None = None
) -> tuple[str, str]:
    """(code, argument) of the one error a query must fail with."""
    result = await client.execute(query, variables)
    errors = result.get("errors")
    assert errors and len(errors) == 1, result
    extensions = errors[0].get("extensions") or {}
    return extensions.get("code"), extensions.get("field")


# The event machinery works in the background after commits: its readers' positions are not
# data (left out), and the log is compared by which events exist, not by the positions the
# sequencer assigns to them later.
READER_POSITIONS = frozenset({"event_consumer", "event_store"})
BY_KEY_ONLY = frozenset({"event_log"})
# The caller's own user row is written by authentication (on first sight, and its lastSeenAt at
# most once a minute), not by the request's work.
AUTHENTICATION = frozenset({"auth_user"})
_queries: WeakKeyDictionary[Engine, list[tuple[str, str]]] = WeakKeyDictionary()


def _snapshot_queries(connection: Connection) -> list[tuple[str, str]]:
    """(table, SELECT) for every table of the database, reflected once per engine."""
    engine = connection.engine
    if engine not in _queries:
        inspector = inspect(connection)
        queries = []
        for name in sorted(set(inspector.get_table_names()) - READER_POSITIONS - AUTHENTICATION):
            columns = "*"
            if name in BY_KEY_ONLY:
                keys = inspector.get_pk_constraint(name)["constrained_columns"]
                columns = ", ".join(f'"{key}"' for key in keys)
            queries.append((name, f'SELECT {columns} FROM "{name}"'))
        _queries[engine] = queries
    return _queries[engine]


async def snapshot(client: GraphQLClient) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in the database (whoever owns it), in a stable order."""

    def read(connection: Connection) -> dict[str, list[tuple[Any, ...]]]:
        return {
            name: sorted((tuple(row) for row in connection.execute(text(query))), key=repr)
            for name, query in _snapshot_queries(connection)
        }

    async with client.app.state.crm.engine.connect() as connection:
        return await connection.run_sync(read)


async def customer(client: GraphQLClient, name: str = "Ada Lovelace", **fields: Any) -> dict:
    return (await ok(client, "createCustomer", {"name": name, **fields}))["customer"]


async def product(
    client: GraphQLClient, sku: str, price: str = "10.00", currency: str = "USD", **fields: Any
) -> dict:
    input = {"sku": sku, "name": fields.pop("name", sku), "price": price, "currency": currency}
    return (await ok(client, "createProduct", {**input, **fields}))["product"]


def line(product_id: str, quantity: int = 1, unit_price: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"productId": product_id, "quantity": quantity}
    if unit_price is not None:
        entry["unitPrice"] = unit_price
    return entry


async def order(
    client: GraphQLClient, customer_id: str, lines: list[dict[str, Any]], **fields: Any
) -> dict:
    input = {"customerId": customer_id, "lines": lines, **fields}
    return (await ok(client, "placeOrder", input))["order"]


async def interaction(
    client: GraphQLClient, customer_id: str, channel: str = "EMAIL", **fields: Any
) -> dict:
    input = {"customerId": customer_id, "channel": channel, **fields}
    return (await ok(client, "logInteraction", input))["interaction"]


async def customer_ids(client: GraphQLClient, arguments: str = "") -> list[str]:
    """IDs of ``customers(<arguments>)``, in the order the API lists them."""
    suffix = f"({arguments})" if arguments else ""
    data = await client.data(f"{{ customers{suffix} {{ nodes {{ id }} }} }}")
    return [n["id"] for n in data["customers"]["nodes"]]


def loyalty_without_hooks() -> SimpleNamespace:
    """The example loyalty plugin (its tables and schema) minus its merge and erase hooks: the
    core's defaults for a plugin's rows that point at customers apply to it."""
    import crm_loyalty

    kept = (
        "crm_plugin_metadata",
        "crm_storage",
        "crm_schema",
        "crm_permissions",
        "crm_data_kinds",
    )
    return SimpleNamespace(**{name: getattr(crm_loyalty, name) for name in kept})


def beyond_authentication(statements: list[str]) -> list[str]:
    """The statements other than the credential check: every request reads (and on first
    sight writes) the caller's user row and, for an API key, the key, which are not the
    query's cost."""
    return [s for s in statements if "auth_user" not in s and "api_key" not in s]
