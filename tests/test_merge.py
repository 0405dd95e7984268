"""Merging duplicate customers: the plan (dry run), the atomic move, aliases and the plugin hook."""

from __future__ import annotations

import asyncio
from typing import Any

from helpers import loyalty_without_hooks

from crm_graph.plugin import InteractionRow, PluginMetadata, fail, from_global_id, hookimpl
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client

MERGE = """
mutation($survivor: ID!, $merged: [ID!]!, $dry: Boolean!) {
  mergeCustomers(input: {survivorId: $survivor, mergedIds: $merged, dryRun: $dry}) {
    errors { code field }
    survivor { externalId name email phone company lifecycleStage tags attributes deletedAt
               orders { totalCount } interactions { totalCount } }
    plan { dryRun aliases moves { owner kind count } fields { field value sources { externalId } } }
  }
}"""

CUSTOMER = """query($x: String!) { customer(externalId: $x) {
  id externalId name deletedAt orders { totalCount } interactions { totalCount } } }"""


class Spy:
    """A plugin taking part in merges: it logs an interaction through the merge's session."""

    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[tuple[int, list[int]]] = []
        self.refuse = refuse

    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="spy", version="1.0")

    @hookimpl
    async def crm_customer_merge(
        self, session: Any, survivor_id: int, merged_ids: list[int]
    ) -> dict[str, int]:
        self.calls.append((survivor_id, merged_ids))
        if self.refuse:
            raise fail("SPY_REFUSES", "the spy plugin refuses this merge", "input")
        session.add(InteractionRow(customer_id=survivor_id, channel="other", subject="merged"))
        return {"widgets": 2 * len(merged_ids)}


async def _seed(client: GraphQLClient) -> dict[str, str]:
    await client.data(
        """mutation { importCustomers(input: [
             {externalId: "A1", name: "Ada", email: "ada@example.com", tags: ["x"],
              lifecycleStage: LEAD, attributes: {plan: "gold"}},
             {externalId: "B1", name: "Ada L.", phone: "+14155550123", company: "Engines",
              tags: ["y", "x"], lifecycleStage: CUSTOMER, attributes: {plan: "free", size: 3}},
             {externalId: "C1", name: "A. Lovelace", email: "other@example.com"}
           ]) { rejected } }"""
    )
    await client.data(
        'mutation { createProduct(input: {sku: "P1", name: "W", price: "5", currency: "USD"}) '
        "{ errors { code } } }"
    )
    await client.data(
        """mutation { importOrders(input: [
             {number: "O1", customerExternalId: "B1", placedAt: "2024-01-01T00:00:00Z",
              total: "5", lines: [{sku: "P1"}]},
             {number: "O2", customerExternalId: "C1", placedAt: "2024-01-02T00:00:00Z", total: "1"}
           ]) { rejected } }"""
    )
    ids = {}
    for key in ("A1", "B1", "C1"):
        customer = (await client.data(CUSTOMER, {"x": key}))["customer"]
        ids[key] = customer["id"]
        await client.data(
            """mutation($id: ID!) { logInteraction(input: {customerId: $id, channel: EMAIL})
               { errors { code } } }""",
            {"id": customer["id"]},
        )
    return ids


async def test_a_dry_run_returns_the_plan_and_writes_nothing(client: GraphQLClient) -> None:
    ids = await _seed(client)
    result = await client.data(
        MERGE, {"survivor": ids["A1"], "merged": [ids["B1"], ids["C1"]], "dry": True}
    )
    payload = result["mergeCustomers"]
    assert payload["errors"] == []
    plan = payload["plan"]
    assert plan["dryRun"] is True
    assert plan["aliases"] == ["B1", "C1"]
    assert plan["moves"] == [
        {"owner": "core", "kind": "interactions", "count": 2},
        {"owner": "core", "kind": "orders", "count": 2},
        {"owner": "core", "kind": "aliases", "count": 0},
    ]
    fields = {
        f["field"]: (f["value"], [s["externalId"] for s in f["sources"]]) for f in plan["fields"]
    }
    assert fields == {
        "name": ("Ada", ["A1"]),
        "email": ("ada@example.com", ["A1"]),
        "phone": ("+14155550123", ["B1"]),
        "company": ("Engines", ["B1"]),
        "lifecycleStage": ("customer", ["B1"]),
        "birthDate": (None, ["A1"]),
        "preferredLanguage": (None, ["A1"]),
        "timeZone": (None, ["A1"]),
        "tags": (["x", "y"], ["A1", "B1"]),
        "addresses": ([], []),
        "attributes": ({"plan": "gold", "size": 3}, ["A1", "B1"]),
    }
    # Nothing changed: the survivor as it is, the others still live with their rows.
    assert payload["survivor"]["phone"] is None
    b1 = (await client.data(CUSTOMER, {"x": "B1"}))["customer"]
    assert (b1["id"], b1["deletedAt"], b1["orders"]["totalCount"]) == (ids["B1"], None, 1)


async def test_a_merge_moves_everything_and_keeps_external_ids_as_aliases(
    client: GraphQLClient,
) -> None:
    ids = await _seed(client)
    result = await client.data(
        MERGE, {"survivor": ids["A1"], "merged": [ids["B1"], ids["C1"]], "dry": False}
    )
    survivor = result["mergeCustomers"]["survivor"]
    assert survivor == {
        "externalId": "A1",
        "name": "Ada",
        "email": "ada@example.com",
        "phone": "+14155550123",
        "company": "Engines",
        "lifecycleStage": "CUSTOMER",
        "tags": ["x", "y"],
        "attributes": {"plan": "gold", "size": 3},
        "deletedAt": None,
        "orders": {"totalCount": 2},
        "interactions": {"totalCount": 3},
    }
    # The merged customers' external ids now find the survivor.
    for alias in ("B1", "C1"):
        assert (await client.data(CUSTOMER, {"x": alias}))["customer"]["id"] == ids["A1"]
    merged = await client.data(
        "query($id: ID!) { node(id: $id) { ... on Customer { externalId deletedAt } } }",
        {"id": ids["B1"]},
    )
    assert merged["node"]["externalId"] is None and merged["node"]["deletedAt"]
    live = await client.data("{ customers { totalCount } }")
    assert live["customers"]["totalCount"] == 1

    # An alias cannot be taken again, and imports referring to it reach the survivor.
    taken = await client.data(
        'mutation { upsertCustomer(input: {externalId: "B1", name: "New B"}) { errors { code } } }'
    )
    assert taken["upsertCustomer"]["errors"] == [{"code": "MERGED"}]
    imported = await client.data(
        """mutation { importOrders(input: [{number: "O3", customerExternalId: "C1",
             placedAt: "2024-03-01T00:00:00Z", total: "2"}]) {
             results { order { customer { externalId } } } } }"""
    )
    assert imported["importOrders"]["results"][0]["order"]["customer"] == {"externalId": "A1"}
    restored = await client.data(
        "mutation($id: ID!) { restoreCustomer(input: {id: $id}) { errors { code } } }",
        {"id": ids["C1"]},
    )
    assert restored["restoreCustomer"]["errors"] == [{"code": "MERGED"}]

    events: list[dict[str, Any]] = []
    for _ in range(50):  # PostgreSQL positions events just after commit
        data = await client.data(
            '{ events(types: ["customer.merged"]) { nodes { entityId payload } } }'
        )
        events = data["events"]["nodes"]
        if events:
            break
        await asyncio.sleep(0.05)
    assert [e["entityId"] for e in events] == [ids["A1"]]
    assert events[0]["payload"]["mergedIds"] == [ids["B1"], ids["C1"]]

    # A survivor merged in turn takes its aliases along.
    await client.data(
        'mutation { importCustomers(input: [{externalId: "Z1", name: "Zed"}]) { rejected } }'
    )
    z1 = (await client.data(CUSTOMER, {"x": "Z1"}))["customer"]["id"]
    again = await client.data(MERGE, {"survivor": z1, "merged": [ids["A1"]], "dry": False})
    assert {"owner": "core", "kind": "aliases", "count": 2} in again["mergeCustomers"]["plan"][
        "moves"
    ]
    for alias in ("A1", "B1", "C1"):
        assert (await client.data(CUSTOMER, {"x": alias}))["customer"]["id"] == z1


async def test_bad_merges_are_user_errors(client: GraphQLClient) -> None:
    ids = await _seed(client)

    async def errors(survivor: str, merged: list[str]) -> list[dict[str, Any]]:
        data = await client.data(MERGE, {"survivor": survivor, "merged": merged, "dry": False})
        return data["mergeCustomers"]["errors"]

    assert await errors(ids["A1"], [ids["A1"]]) == [
        {"code": "INVALID_VALUE", "field": ["input", "mergedIds"]}
    ]
    assert await errors(ids["A1"], []) == [{"code": "REQUIRED", "field": ["input", "mergedIds"]}]
    assert await errors(ids["A1"], ["nonsense"]) == [
        {"code": "INVALID_ID", "field": ["input", "mergedIds", "0"]}
    ]
    await client.data(
        "mutation($id: ID!) { deleteCustomer(input: {id: $id}) { errors { code } } }",
        {"id": ids["C1"]},
    )
    assert await errors(ids["A1"], [ids["B1"], ids["C1"]]) == [
        {"code": "DELETED", "field": ["input", "mergedIds", "1"]}
    ]
    b1 = (await client.data(CUSTOMER, {"x": "B1"}))["customer"]
    assert (b1["deletedAt"], b1["orders"]["totalCount"]) == (None, 1)


async def test_plugins_move_their_rows_through_the_hook_atomically(settings: Settings) -> None:
    spy = Spy()
    async with app_client(settings, plugins=[spy]) as client:
        ids = await _seed(client)
        dry = await client.data(MERGE, {"survivor": ids["A1"], "merged": [ids["B1"]], "dry": True})
        assert {"owner": "spy", "kind": "widgets", "count": 2} in dry["mergeCustomers"]["plan"][
            "moves"
        ]
        assert dry["mergeCustomers"]["survivor"]["interactions"] == {"totalCount": 1}  # rolled back

        done = await client.data(
            MERGE, {"survivor": ids["A1"], "merged": [ids["B1"]], "dry": False}
        )
        assert done["mergeCustomers"]["survivor"]["interactions"] == {"totalCount": 3}
        assert [call[1] for call in spy.calls] == [[from_global_id(ids["B1"])[1]]] * 2

    refusing = Spy(refuse=True)
    async with app_client(settings, plugins=[refusing], migrate=False) as client:
        refused = await client.data(
            MERGE, {"survivor": ids["A1"], "merged": [ids["C1"]], "dry": False}
        )
        assert refused["mergeCustomers"]["errors"] == [{"code": "SPY_REFUSES", "field": ["input"]}]
        c1 = (await client.data(CUSTOMER, {"x": "C1"}))["customer"]
        assert (c1["id"], c1["deletedAt"], c1["orders"]["totalCount"]) == (ids["C1"], None, 1)


async def test_a_plugin_without_the_hook_has_its_rows_moved_for_it(settings: Settings) -> None:
    award = """mutation ($id: ID!, $points: Int!) {
      awardLoyaltyPoints(input: {customerId: $id, points: $points, reason: "r"}) { errors { code } }
    }"""
    entries = "query ($id: ID!) { exportCustomerData(id: $id) }"
    async with app_client(settings, plugins=[loyalty_without_hooks()]) as client:
        ids = await _seed(client)
        for points in (5, 7):
            await client.data(award, {"id": ids["B1"], "points": points})
        # loyalty_account holds one row per customer: B1's moves to A1, which has none.
        done = await client.data(
            MERGE, {"survivor": ids["A1"], "merged": [ids["B1"]], "dry": False}
        )
        moves = done["mergeCustomers"]["plan"]["moves"]
        assert {"owner": "loyalty", "kind": "loyalty_entry", "count": 2} in moves
        assert {"owner": "loyalty", "kind": "loyalty_account", "count": 1} in moves
        exported = (await client.data(entries, {"id": ids["A1"]}))["exportCustomerData"]
        assert sorted(e["points"] for e in exported["plugins"]["loyalty"]["loyalty_entry"]) == [
            5,
            7,
        ]
        assert exported["plugins"]["loyalty"]["loyalty_account"][0]["points"] == 12


async def test_a_field_no_customer_has_is_planned_as_null_and_the_merge_reports_its_commit(
    client: GraphQLClient,
) -> None:
    """Two customers without a phone: the plan says null for it (it used to fail the whole
    response, after the merge had committed)."""
    ids = []
    for name in ("No Phone", "No Phone Either"):
        made = await client.data(
            "mutation ($name: String!) { createCustomer(input: {name: $name}) { customer { id } } }",
            {"name": name},
        )
        ids.append(made["createCustomer"]["customer"]["id"])
    for dry in (True, False):
        answer = await client.execute(MERGE, {"survivor": ids[0], "merged": ids[1:], "dry": dry})
        assert "errors" not in answer, answer["errors"]
        merged = answer["data"]["mergeCustomers"]
        assert merged["errors"] == []
        fields = {f["field"]: f["value"] for f in merged["plan"]["fields"]}
        assert fields["phone"] is None and fields["email"] is None
        assert fields["name"] == "No Phone"
    gone = await client.data(
        "query ($id: ID!) { node(id: $id) { ... on Customer { deletedAt } } }", {"id": ids[1]}
    )
    assert gone["node"]["deletedAt"] is not None  # merged away: the merge committed
