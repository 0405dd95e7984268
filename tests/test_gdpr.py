"""GDPR: export everything about a customer, erase it for good, record consent.

The erasure test seeds unique canary values everywhere personal data can land (core rows,
a merged duplicate, interactions, consent, a plugin table, the event log, the audit log),
erases, and then searches the raw database for them: the SQLite file's bytes (and its WAL),
or every text and JSON column of every PostgreSQL table. Zero hits.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from helpers import loyalty_without_hooks
from sqlalchemy import text

from crm_graph.plugin import PluginMetadata, hookimpl
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client


class Receipts:
    """A plugin taking part in export and erasure through the hooks (no tables)."""

    def __init__(self) -> None:
        self.erased: list[int] = []

    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="receipts", version="1.0")

    @hookimpl
    async def crm_customer_export(self, session: Any, customer_id: int) -> dict:
        count = await session.scalar(
            text("SELECT count(*) FROM interaction WHERE customer_id = :id"), {"id": customer_id}
        )
        return {"interactionsSeen": count}

    @hookimpl
    async def crm_customer_erase(self, session: Any, customer_id: int) -> None:
        self.erased.append(customer_id)


@pytest.fixture
def receipts() -> Receipts:
    return Receipts()


@pytest.fixture
async def gdpr(settings: Settings, receipts: Receipts) -> Any:
    """Core, the loyalty plugin's tables without its hooks (handled by default) and receipts."""
    async with app_client(settings, plugins=[loyalty_without_hooks(), receipts]) as client:
        yield client


CREATE = """
mutation ($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } } }
"""
SEED = """
mutation ($id: ID!, $product: ID!, $note: String!, $phone: String!) {
  updateCustomer(input: {id: $id, phone: $phone, company: $note}) { errors { code } }
  logInteraction(input: {customerId: $id, channel: EMAIL, subject: $note, body: $note}) {
    errors { code }
  }
  recordConsent(input: {customerId: $id, channel: EMAIL, granted: true, source: $note}) {
    errors { code }
  }
  awardLoyaltyPoints(input: {customerId: $id, points: 10, reason: $note}) { errors { code } }
  placeOrder(input: {customerId: $id, lines: [{productId: $product, quantity: 1}]}) {
    order { id number }
  }
}
"""


async def seed_canaries(client: GraphQLClient) -> tuple[str, str, list[str]]:
    tag = secrets.token_hex(6)
    name, email, note = f"Canary {tag}", f"canary.{tag}@example.com", f"note-{tag}"
    phone = f"+1415555{secrets.randbelow(100) + 100:04d}"
    product = await client.data(
        'mutation { createProduct(input: {sku: "S", name: "S", price: "3"}) { product { id } } }'
    )
    customer = {
        "name": name,
        "email": email,
        "externalId": f"ext-{tag}",
        "tags": [f"tag-{tag}"],
        "attributes": {"note": note},
    }
    ids = []
    for value in (customer, {**customer, "externalId": f"dup-{tag}", "name": f"{name} dup"}):
        ids.append(
            (await client.data(CREATE, {"input": value}))["createCustomer"]["customer"]["id"]
        )
    seeded = await client.data(
        SEED,
        {
            "id": ids[0],
            "product": product["createProduct"]["product"]["id"],
            "note": note,
            "phone": phone,
        },
    )
    assert all(p["errors"] == [] for k, p in seeded.items() if k != "placeOrder")
    merged = await client.data(
        "mutation ($s: ID!, $m: ID!) { mergeCustomers(input: {survivorId: $s, mergedIds: [$m], "
        "dryRun: false}) { errors { code } } }",
        {"s": ids[0], "m": ids[1]},
    )
    assert merged["mergeCustomers"]["errors"] == []
    return ids[0], seeded["placeOrder"]["order"]["id"], [name, email, phone[2:], note, tag]


async def raw_hits(client: GraphQLClient, database_url: str, canaries: list[str]) -> list[str]:
    """Where the canaries still occur in the database, searched below the ORM."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.split("///", 1)[1])
        files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()]
        return [f"{f.name}: {c}" for f in files for c in canaries if c.encode() in f.read_bytes()]
    hits = []
    async with client.app.state.crm.read() as session:
        columns = await session.execute(
            text(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND data_type IN "
                "('text', 'character varying', 'character', 'json', 'jsonb')"
            )
        )
        for table, column in columns.all():
            for canary in canaries:
                found = await session.scalar(
                    text(f'SELECT count(*) FROM "{table}" WHERE "{column}"::text LIKE :c'),
                    {"c": f"%{canary}%"},
                )
                if found:
                    hits.append(f"{table}.{column}: {canary}")
    return hits


ERASE = "mutation ($id: ID!) { eraseCustomer(input: {id: $id}) { erasedId errors { code } } }"
AFTER = """
query ($id: ID!, $order: ID!) {
  customer(id: $id) { name email phone externalId tags attributes erasedAt deletedAt
    interactions { totalCount } consents { granted } }
  order(id: $order) { number customer { id name } }
}
"""


async def test_erasure_leaves_no_canary_anywhere_in_the_database(
    gdpr: GraphQLClient, database_url: str, receipts: Receipts
) -> None:
    customer, order, canaries = await seed_canaries(gdpr)
    assert await raw_hits(gdpr, database_url, canaries)  # the search does find them before

    erased = await gdpr.data(ERASE, {"id": customer})
    assert erased["eraseCustomer"] == {"erasedId": customer, "errors": []}
    assert len(receipts.erased) == 2  # the customer and the duplicate merged into it

    assert await raw_hits(gdpr, database_url, canaries) == []
    after = await gdpr.data(AFTER, {"id": customer, "order": order})
    assert after["customer"]["name"] == "Erased customer"
    assert after["customer"]["erasedAt"] and after["customer"]["deletedAt"]
    for key in ("email", "phone", "externalId"):
        assert after["customer"][key] is None
    assert after["customer"]["tags"] == [] and after["customer"]["attributes"] == {}
    assert after["customer"]["interactions"]["totalCount"] == 0
    assert after["customer"]["consents"] == []
    assert after["order"]["customer"] == {"id": customer, "name": "Erased customer"}

    again = await gdpr.data(ERASE, {"id": customer})
    assert [e["code"] for e in again["eraseCustomer"]["errors"]] == ["ERASED"]
    restore = await gdpr.data(
        "mutation ($id: ID!) { restoreCustomer(input: {id: $id}) { errors { code } } }",
        {"id": customer},
    )
    assert [e["code"] for e in restore["restoreCustomer"]["errors"]] == ["ERASED"]


EXPORT = "query ($id: ID!) { exportCustomerData(id: $id) }"


async def test_export_holds_core_and_plugin_data(gdpr: GraphQLClient) -> None:
    customer, order, canaries = await seed_canaries(gdpr)
    document = (await gdpr.data(EXPORT, {"id": customer}))["exportCustomerData"]
    assert document["format"] == "crm-graph.customer-export/1"
    assert document["customer"]["id"] == customer
    assert document["customer"]["email"] == canaries[1]
    assert document["customer"]["attributes"] == {"note": canaries[3]}
    assert [i["body"] for i in document["interactions"]] == [canaries[3]]
    assert [o["id"] for o in document["orders"]] == [order]
    assert len(document["orders"][0]["lines"]) == 1
    assert [c["source"] for c in document["consents"]] == [canaries[3]]
    assert len(document["mergedCustomers"]) == 1
    assert document["plugins"]["receipts"] == {"interactionsSeen": 1}
    loyalty = document["plugins"]["loyalty"]
    assert [e["reason"] for e in loyalty["loyalty_entry"]] == [canaries[3]]
    assert loyalty["loyalty_account"][0]["points"] == 10

    missing = await gdpr.data(EXPORT, {"id": "Q3VzdG9tZXI6OTk5OTk"})
    assert missing["exportCustomerData"] is None
    denied = await gdpr.acting_as("service", "s").execute(EXPORT, {"id": customer})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_export_writes_a_row_as_its_event_payload_does(gdpr: GraphQLClient) -> None:
    """One row-to-JSON function: global IDs, camelCased keys, money in its minor unit."""
    customer, order, _canaries = await seed_canaries(gdpr)
    document = (await gdpr.data(EXPORT, {"id": customer}))["exportCustomerData"]
    events = await gdpr.data(
        '{ events(first: 100, types: ["order.placed"]) { nodes { payload } } }'
    )
    [placed] = [e["payload"]["entity"] for e in events["events"]["nodes"]]
    exported = {k: v for k, v in document["orders"][0].items() if k != "lines"}
    assert exported == placed
    assert exported["id"] == order and exported["customerId"] == customer
    assert exported["total"] == "3.00"


CONSENT = """
mutation ($id: ID!, $granted: Boolean!, $source: String) {
  recordConsent(input: {customerId: $id, channel: SMS, granted: $granted, source: $source}) {
    consent { channel granted source actor } errors { code field }
  }
}
"""


async def test_consent_records_accumulate_newest_first(client: GraphQLClient) -> None:
    made = await client.data(CREATE, {"input": {"name": "Kim"}})
    kim = made["createCustomer"]["customer"]["id"]
    given = await client.data(CONSENT, {"id": kim, "granted": True, "source": "signup form"})
    assert given["recordConsent"]["consent"] == {
        "channel": "SMS",
        "granted": True,
        "source": "signup form",
        "actor": "user:test-admin",
    }
    await client.data(CONSENT, {"id": kim, "granted": False, "source": None})
    listed = await client.data(
        "query ($id: ID!) { customer(id: $id) { consents { granted source recordedAt } } }",
        {"id": kim},
    )
    assert [c["granted"] for c in listed["customer"]["consents"]] == [False, True]
    too_long = await client.data(CONSENT, {"id": kim, "granted": True, "source": "x" * 201})
    assert too_long["recordConsent"]["errors"] == [
        {"code": "TOO_LONG", "field": ["input", "source"]}
    ]
