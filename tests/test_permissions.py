"""Authorisation: every role against every operation field, ownership scopes, masked PII.

The role-by-field table is built from the composed schema (core, the bundled analytics plugin
and the example loyalty plugin), so a field added anywhere is covered without editing it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from httpx_ws import AsyncWebSocketSession
from security_support import operation_fields, operation_request, socket, token_of

from crm_graph.auth.guard import operation_fields as declared_fields
from crm_graph.auth.permissions import DEFAULT_ROLES
from crm_graph.auth.principal import Principal
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from crm_graph.web.app import create_app


def _forbidden(answer: dict[str, Any], field: str) -> bool:
    return any(
        e.get("extensions", {}).get("code") == "FORBIDDEN" and e.get("path", [field])[0] == field
        for e in answer.get("errors") or []
    )


def test_every_operation_field_declares_its_permission(tmp_path: Any) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", plugins=None)
    schema = create_app(settings).state.schema
    fields = list(declared_fields(schema))
    assert {"awardLoyaltyPoints", "rfm", "createCustomer"} & {f for _t, f, _p in fields}
    undeclared = [f"{t}.{f}" for t, f, permission in fields if permission is None]
    assert not undeclared, f"declare metadata=requires(...) on: {', '.join(undeclared)}"


async def _subscription_denials(
    client: GraphQLClient, role: str, requests: dict[str, tuple[str, dict]], expected: set[str]
) -> set[str]:
    """Which subscription fields answer FORBIDDEN for ``role`` (all subscribed at once)."""
    denied: set[str] = set()
    async with socket(client, {"token": token_of(client, role, f"{role}-user")}) as ws:
        assert json.loads(await ws.receive_text(timeout=5))["type"] == "connection_ack"
        for field, (document, variables) in requests.items():
            payload = {"query": document, "variables": variables}
            await ws.send_text(json.dumps({"id": field, "type": "subscribe", "payload": payload}))
        await _collect(ws, denied, expected)
    return denied


async def _collect(ws: AsyncWebSocketSession, denied: set[str], expected: set[str]) -> None:
    """Read until every expected denial arrived, then a little longer for unexpected ones."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    settle: float | None = None
    while True:
        if settle is None and expected <= denied:
            settle = loop.time() + 0.3
        until = settle if settle is not None else deadline
        remaining = until - loop.time()
        if remaining <= 0:
            return
        try:
            message = json.loads(await ws.receive_text(timeout=remaining))
        except TimeoutError:
            return
        errors = message.get("payload") if message["type"] == "error" else None
        if message["type"] == "next":
            errors = message["payload"].get("errors")
        if errors and any(e.get("extensions", {}).get("code") == "FORBIDDEN" for e in errors):
            denied.add(message["id"])


@pytest.fixture
async def composed(settings: Settings) -> Any:
    """Core + every installed plugin (analytics, loyalty), migrated."""
    full = settings.model_copy(update={"plugins": None, "max_subscriptions_per_socket": 50})
    async with app_client(full) as client:
        yield client


async def test_every_role_against_every_operation_field(composed: GraphQLClient) -> None:
    schema = composed.app.state.schema
    policy = composed.app.state.crm.auth.policy
    declared = {(t, f): p for t, f, p in declared_fields(schema)}
    fields = operation_fields(schema)
    assert len(fields) > 30 and set(DEFAULT_ROLES) <= set(policy.roles)
    mismatches: list[str] = []
    for role in DEFAULT_ROLES:
        principal = Principal.for_role(policy, "token", "t", role, role, f"{role}-user")
        allowed = {key: principal.has(permission or "*") for key, permission in declared.items()}
        caller = composed.acting_as(role, f"{role}-user")
        for type_name, field in fields:
            if type_name == "Subscription":
                continue
            document, variables = operation_request(schema, type_name, field)
            answer = await caller.execute(document, variables)
            if _forbidden(answer, field) == allowed[(type_name, field)]:
                mismatches.append(f"{role} {type_name}.{field}: {answer.get('errors')}")
        subscriptions = {
            field: operation_request(schema, t, field) for t, field in fields if t == "Subscription"
        }
        expected = {f for f in subscriptions if not allowed[("Subscription", f)]}
        denied = await _subscription_denials(composed, role, subscriptions, expected)
        mismatches += [f"{role} Subscription.{f}" for f in denied ^ expected]
    assert not mismatches, "\n".join(mismatches)


PII = "{ customers { nodes { email phone interactions { nodes { subject body } } } } }"


async def test_personal_data_is_masked_without_pii_read(client: GraphQLClient) -> None:
    created = await client.data(
        'mutation { createCustomer(input: {name: "Jo", email: "jo@example.com", '
        'phone: "+14155550123"}) { customer { id } } }'
    )
    customer = created["createCustomer"]["customer"]["id"]
    await client.data(
        "mutation ($id: ID!) { logInteraction(input: {customerId: $id, channel: EMAIL, "
        'subject: "Invoice", body: "Please call me"}) { errors { code } } }',
        {"id": customer},
    )
    analyst = client.acting_as("analyst", "ann")
    masked = (await analyst.data(PII))["customers"]["nodes"][0]
    assert masked == {
        "email": "j***@example.com",
        "phone": "+1********23",
        "interactions": {"nodes": [{"subject": "***", "body": "***"}]},
    }
    clear = (await client.data(PII))["customers"]["nodes"][0]
    assert clear["email"] == "jo@example.com" and clear["phone"] == "+14155550123"
    # Masked data cannot be probed through search either.
    search = "query ($q: String!) { customers(filter: {search: $q}) { totalCount } }"
    assert (await analyst.data(search, {"q": "jo@exa"}))["customers"]["totalCount"] == 0
    assert (await analyst.data(search, {"q": "Jo"}))["customers"]["totalCount"] == 1
    assert (await client.data(search, {"q": "jo@exa"}))["customers"]["totalCount"] == 1


TEAM_ROLE = [
    f"{family}:{action}@team"
    for family in ("customers", "interactions", "orders")
    for action in ("read", "write")
]
SEED_CUSTOMER = """
mutation ($name: String!) {
  createCustomer(input: {name: $name, externalId: $name}) { customer { id ownerId } }
}
"""
SEED_REST = """
mutation ($id: ID!, $product: ID!) {
  logInteraction(input: {customerId: $id, channel: PHONE}) { interaction { id } }
  placeOrder(input: {customerId: $id, lines: [{productId: $product, quantity: 1}]}) {
    order { id }
  }
}
"""


@pytest.fixture
async def owned(settings: Settings) -> Any:
    """alice and bob (team emea) and carol (team apac), each owning a customer with an
    interaction and an order, created through their own sales credentials."""
    scoped = settings.model_copy(
        update={
            "teams": {"emea": ["alice", "bob"], "apac": ["carol"]},
            "roles": {"lead": [*TEAM_ROLE, "products:read", "pii:read"]},
        }
    )
    async with app_client(scoped, plugins=[]) as admin:
        product = await admin.data(
            'mutation { createProduct(input: {sku: "P", name: "P", price: "5"}) '
            "{ product { id } } }"
        )
        product_id = product["createProduct"]["product"]["id"]
        records: dict[str, dict[str, str]] = {}
        for user in ("alice", "bob", "carol"):
            sales = admin.acting_as("sales", user)
            made = (await sales.data(SEED_CUSTOMER, {"name": user}))["createCustomer"]
            assert made["customer"]["ownerId"] == user
            rest = await sales.data(
                SEED_REST, {"id": made["customer"]["id"], "product": product_id}
            )
            records[user] = {
                "customer": made["customer"]["id"],
                "interaction": rest["logInteraction"]["interaction"]["id"],
                "order": rest["placeOrder"]["order"]["id"],
            }
        yield admin, records, product_id


LISTS = """
{
  customers { totalCount nodes { externalId } }
  orders { totalCount nodes { customer { externalId } } }
  interactions { totalCount nodes { customer { externalId } } }
}
"""
LOOKUPS = """
query ($customer: ID!, $order: ID!, $interaction: ID!, $external: String!) {
  node(id: $customer) { id }
  nodes(ids: [$customer, $order, $interaction]) { id }
  customer(id: $customer) { id }
  byExternal: customer(externalId: $external) { id }
  order(id: $order) { id }
}
"""
VIEWERS = [
    ("sales", "alice", {"alice"}),
    ("lead", "alice", {"alice", "bob"}),
    ("lead", "carol", {"carol"}),
    ("admin", "root", {"alice", "bob", "carol"}),
]


async def test_scopes_limit_lists_lookups_and_nested_reads(owned: Any) -> None:
    admin, records, _product = owned
    for role, user, visible in VIEWERS:
        await _reads_exactly(admin.acting_as(role, user), records, visible)


async def _reads_exactly(
    caller: GraphQLClient, records: dict[str, dict[str, str]], visible: set[str]
) -> None:
    lists = await caller.data(LISTS)
    assert {c["externalId"] for c in lists["customers"]["nodes"]} == visible
    assert lists["customers"]["totalCount"] == len(visible)
    for kind in ("orders", "interactions"):
        assert {n["customer"]["externalId"] for n in lists[kind]["nodes"]} == visible
        assert lists[kind]["totalCount"] == len(visible)
    for owner, ids in records.items():
        found = await caller.data(
            LOOKUPS,
            {
                "customer": ids["customer"],
                "order": ids["order"],
                "interaction": ids["interaction"],
                "external": owner,
            },
        )
        seen = owner in visible
        assert found["node"] == ({"id": ids["customer"]} if seen else None), owner
        assert [n is not None for n in found["nodes"]] == [seen] * 3, owner
        for key in ("customer", "byExternal", "order"):
            assert (found[key] is not None) == seen, (owner, key)


WRITES = {
    "updateCustomer": 'updateCustomer(input: {id: $customer, name: "Taken"}) { errors { code } }',
    "logInteraction": (
        "logInteraction(input: {customerId: $customer, channel: OTHER}) { errors { code } }"
    ),
    "placeOrder": (
        "placeOrder(input: {customerId: $customer, lines: [{productId: $product, quantity: 1}]}) "
        "{ errors { code } }"
    ),
    "changeOrderStatus": (
        "changeOrderStatus(input: {id: $order, status: CANCELLED}) { errors { code } }"
    ),
    "recordConsent": (
        "recordConsent(input: {customerId: $customer, channel: EMAIL, granted: true}) "
        "{ errors { code } }"
    ),
    "deleteCustomer": "deleteCustomer(input: {id: $customer}) { errors { code } }",
}


async def _write(caller: GraphQLClient, name: str, ids: dict[str, str], product: str) -> list:
    values = {"customer": ids["customer"], "order": ids["order"], "product": product}
    variables = {k: v for k, v in values.items() if f"${k}" in WRITES[name]}
    declared = ", ".join(f"${k}: ID!" for k in variables)
    document = f"mutation ({declared}) {{ {WRITES[name]} }}"
    answer = await caller.data(document, variables)
    return [e["code"] for e in answer[name]["errors"]]


STATE = """
{ customers(filter: {includeDeleted: true}) { nodes { externalId name version deletedAt
  interactions { totalCount } orders { totalCount nodes { status } } consents { granted } } } }
"""


async def test_scopes_refuse_writes_to_records_out_of_scope(owned: Any) -> None:
    admin, records, product = owned
    for role, user, target in [("sales", "alice", "bob"), ("lead", "bob", "carol")]:
        await _writes_only_in_scope(admin, role, user, records, target, product)


async def _writes_only_in_scope(
    admin: GraphQLClient,
    role: str,
    user: str,
    records: dict[str, dict[str, str]],
    target: str,
    product: str,
) -> None:
    caller = admin.acting_as(role, user)
    before = await admin.data(STATE)
    for name in WRITES:
        assert await _write(caller, name, records[target], product) == ["NOT_FOUND"], name
    assert await admin.data(STATE) == before
    audit = await admin.data('{ auditLog(filter: {actor: "user:' + user + '"}) { totalCount } }')
    assert audit["auditLog"]["totalCount"] == 3  # its own seeding; nothing refused was written

    own = records[user]
    for name in WRITES:
        assert await _write(caller, name, own, product) == [], name


async def test_customers_a_caller_imports_in_bulk_are_its_own(owned: Any) -> None:
    admin, _records, _product = owned
    alice = admin.acting_as("sales", "alice")
    imported = await alice.data(
        'mutation { importCustomers(input: [{externalId: "bulk-1", name: "Bulk"}]) '
        "{ inserted errors { code } } }"
    )
    assert imported["importCustomers"] == {"inserted": 1, "errors": []}
    found = await alice.data('{ customer(externalId: "bulk-1") { ownerId } }')
    assert found["customer"] == {"ownerId": "alice"}
    assert (
        await admin.acting_as("sales", "bob").data('{ customer(externalId: "bulk-1") { id } }')
    )["customer"] is None


async def test_another_owners_external_id_cannot_be_used_and_stays_anonymous(owned: Any) -> None:
    """As a caller with ``own`` scope, an external id a hidden customer holds answers a stable
    EXTERNAL_ID_UNAVAILABLE (never a CONFLICT to retry), saying nothing of its owner, in every
    write that can set one: create, update, upsert, imports and imported orders' references."""
    admin, records, _product = owned
    bob = admin.acting_as("sales", "bob")
    await bob.data(
        'mutation { createCustomer(input: {name: "B", externalId: "ext-b"}) { errors { code } } }'
    )
    alice = admin.acting_as("sales", "alice")
    before = await admin.data(STATE)
    writes = {
        "createCustomer": '{name: "X", externalId: "ext-b"}',
        "updateCustomer": f'{{id: "{records["alice"]["customer"]}", externalId: "ext-b"}}',
        "upsertCustomer": '{name: "X", externalId: "ext-b"}',
    }
    for _attempt in range(2):  # a retry answers the same
        for name, arguments in writes.items():
            payload = (
                await alice.data(
                    f"mutation {{ {name}(input: {arguments}) {{ errors {{ code message field }} }} }}"
                )
            )[name]
            [error] = payload["errors"]
            assert (error["code"], error["field"]) == (
                "EXTERNAL_ID_UNAVAILABLE",
                ["input", "externalId"],
            ), name
            assert "bob" not in error["message"] and "cannot be used" in error["message"]
    imported = await alice.data(
        'mutation { importCustomers(input: [{externalId: "ext-b", name: "X"}, '
        '{externalId: "ext-a2", name: "A2"}]) '
        "{ inserted rejected results { index errors { code field } } } }"
    )
    assert imported["importCustomers"]["inserted"] == 1
    assert imported["importCustomers"]["results"][0] == {
        "index": 0,
        "errors": [{"code": "EXTERNAL_ID_UNAVAILABLE", "field": ["input", "0", "externalId"]}],
    }
    orders = await alice.data(
        'mutation { importOrders(input: [{customerExternalId: "ext-b", '
        'placedAt: "2024-01-02T00:00:00Z", total: "0"}]) '
        "{ rejected results { errors { code field } } } }"
    )
    assert orders["importOrders"]["rejected"] == 1
    assert orders["importOrders"]["results"][0]["errors"][0]["code"] == "EXTERNAL_ID_UNAVAILABLE"
    after = (await admin.data(STATE))["customers"]["nodes"]
    assert [n for n in after if n["externalId"] != "ext-a2"] == before["customers"]["nodes"]


async def test_another_owners_order_number_cannot_be_used_and_stays_anonymous(
    owned: Any,
) -> None:
    """The same for order numbers, unique across owners: placing or importing an order under
    a number a hidden order holds answers ORDER_NUMBER_UNAVAILABLE, never CONFLICT."""
    admin, records, product = owned
    node = await admin.data(
        "query ($id: ID!) { node(id: $id) { ... on Order { number } } }",
        {"id": records["bob"]["order"]},
    )
    number = node["node"]["number"]
    alice = admin.acting_as("sales", "alice")
    before = await admin.data(STATE)
    for _attempt in range(2):
        placed = await alice.data(
            "mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) "
            "{ errors { code message field } } }",
            {
                "input": {
                    "customerId": records["alice"]["customer"],
                    "number": number,
                    "lines": [{"productId": product, "quantity": 1}],
                }
            },
        )
        [error] = placed["placeOrder"]["errors"]
        assert (error["code"], error["field"]) == ("ORDER_NUMBER_UNAVAILABLE", ["input", "number"])
        assert "bob" not in error["message"] and "cannot be used" in error["message"]
        imported = await alice.data(
            "mutation ($items: [ImportOrderInput!]!) { importOrders(input: $items) "
            "{ rejected results { errors { code field } } } }",
            {
                "items": [
                    {
                        "number": number,
                        "customerExternalId": "alice",
                        "placedAt": "2024-01-02T00:00:00Z",
                        "total": "5",
                        "lines": [{"sku": "P", "quantity": 1, "unitPrice": "5"}],
                    }
                ]
            },
        )
        assert imported["importOrders"]["rejected"] == 1
        assert imported["importOrders"]["results"][0]["errors"] == [
            {"code": "ORDER_NUMBER_UNAVAILABLE", "field": ["input", "0", "number"]}
        ]
    assert await admin.data(STATE) == before
