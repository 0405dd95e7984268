"""The core's domain operations used from plugin code: redeeming points places an order, logs
an interaction and deducts points in one unit of work; consent and duplicate finding; the
plugin's rows in merges and erasures. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from test_loyalty import award, new_customer

import crm_loyalty
from crm_graph.plugin import (
    CustomerRow,
    PluginMetadata,
    ValidationFailed,
    fail,
    find_duplicates,
    from_global_id,
    hookimpl,
    record_consent,
)
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client

REDEEM = """
mutation ($customerId: ID!, $points: Int!, $lines: [LoyaltyRewardLineInput!]!) {
  redeemLoyaltyPoints(input: {customerId: $customerId, points: $points, lines: $lines}) {
    account { points }
    order { id number total { amount currency } lines { quantity product { sku } } }
    errors { code field }
  }
}
"""
STATE = """
query ($id: ID!) {
  customer(id: $id) {
    loyaltyPoints
    orders { totalCount }
    interactions { nodes { channel direction subject } }
  }
  events(types: ["order.placed"]) { nodes { entityId payload } }
}
"""


async def new_product(client: GraphQLClient, sku: str) -> str:
    data = await client.data(
        """mutation ($sku: String!) {
             createProduct(input: {sku: $sku, name: "Mug", price: "12.50", currency: "USD"}) {
               product { id }
             }
           }""",
        {"sku": sku},
    )
    return data["createProduct"]["product"]["id"]


async def redeem(client: GraphQLClient, customer: str, points: int, lines: list) -> dict:
    variables = {"customerId": customer, "points": points, "lines": lines}
    return (await client.data(REDEEM, variables))["redeemLoyaltyPoints"]


async def test_redeeming_places_a_free_order_logs_it_and_deducts_the_points(
    loyalty: GraphQLClient,
) -> None:
    ada, mug = await new_customer(loyalty, "Ada"), await new_product(loyalty, "MUG")
    await award(loyalty, ada, 500, "welcome")

    result = await redeem(loyalty, ada, 300, [{"productId": mug, "quantity": 2}])

    assert result["errors"] == []
    assert result["account"] == {"points": 200}
    order = result["order"]
    assert order["total"] == {"amount": "0.00", "currency": "USD"}
    assert order["lines"] == [{"quantity": 2, "product": {"sku": "MUG"}}]
    state = await loyalty.data(STATE, {"id": ada})
    assert state["customer"]["loyaltyPoints"] == 200
    assert state["customer"]["orders"]["totalCount"] == 1
    assert state["customer"]["interactions"]["nodes"] == [
        {
            "channel": "OTHER",
            "direction": "OUTBOUND",
            "subject": f"Redeemed 300 loyalty points for order {order['number']}",
        }
    ]
    [placed] = state["events"]["nodes"]
    assert placed["entityId"] == order["id"]
    assert placed["payload"]["lines"][0]["quantity"] == 2


async def test_a_failure_after_the_order_was_placed_rolls_everything_back(
    loyalty: GraphQLClient,
) -> None:
    ada, mug = await new_customer(loyalty, "Ada"), await new_product(loyalty, "MUG")
    await award(loyalty, ada, 100, "welcome")

    # The order is valid and placed first; the balance is checked after it, and is too small.
    short = await redeem(loyalty, ada, 300, [{"productId": mug}])
    assert short == {
        "account": None,
        "order": None,
        "errors": [{"code": "INSUFFICIENT_POINTS", "field": ["input", "points"]}],
    }
    # The order's own rules report at the plugin's input paths, all problems at once.
    bad = await redeem(
        loyalty, ada, 0, [{"productId": "nonsense"}, {"productId": mug, "quantity": 0}]
    )
    assert sorted((e["code"], ".".join(e["field"])) for e in bad["errors"]) == [
        ("INVALID_ID", "input.lines.0.productId"),
        ("INVALID_QUANTITY", "input.lines.1.quantity"),
        ("INVALID_VALUE", "input.points"),
    ]
    state = await loyalty.data(STATE, {"id": ada})
    assert state["customer"] == {
        "loyaltyPoints": 100,
        "orders": {"totalCount": 0},
        "interactions": {"nodes": []},
    }
    assert state["events"]["nodes"] == []


async def test_consent_is_recorded_and_withdrawn_with_the_plugins_own_change(
    loyalty: GraphQLClient,
) -> None:
    ada = await new_customer(loyalty, "Ada")
    pk = from_global_id(ada)[1]
    async with loyalty.app.state.crm.write() as session:
        await record_consent(session, pk, "email", True, "loyalty sign-up")
    with pytest.raises(ValidationFailed):
        async with loyalty.app.state.crm.write() as session:
            await record_consent(session, pk, "email", False, "loyalty sign-out")
            raise fail("LOYALTY_REFUSED", "the plugin's own part failed", "input")
    async with loyalty.app.state.crm.write() as session:
        await record_consent(session, pk, "sms", False, "till")
    with pytest.raises(ValidationFailed) as refused:
        async with loyalty.app.state.crm.write() as session:
            await record_consent(session, pk, "fax", True, at=("input", "consent"))

    assert [(e.code, e.field) for e in refused.value.errors] == [
        ("INVALID_VALUE", ["input", "consent", "channel"])
    ]
    data = await loyalty.data(
        "query ($id: ID!) { customer(id: $id) { consents { channel granted source } } }",
        {"id": ada},
    )
    assert sorted(data["customer"]["consents"], key=lambda c: c["channel"]) == [
        {"channel": "EMAIL", "granted": True, "source": "loyalty sign-up"},
        {"channel": "SMS", "granted": False, "source": "till"},
    ]


FIND = """
query ($name: String, $email: String, $phone: String) {
  findLoyaltyMembers(name: $name, email: $email, phone: $phone) {
    score reasons customer { name }
  }
}
"""


async def test_members_are_found_by_contact_details_masked_as_the_caller_may_see(
    loyalty: GraphQLClient,
) -> None:
    await loyalty.data(
        """mutation { importCustomers(input: [
             {externalId: "A", name: "Ada Lovelace", email: "ada@example.com"},
             {externalId: "B", name: "Grace Hopper", phone: "+14155550123"}
           ]) { rejected } }"""
    )
    variables = {"name": "ada lovelace", "email": "ADA@example.com"}
    [ada] = (await loyalty.data(FIND, variables))["findLoyaltyMembers"]
    assert ada["customer"] == {"name": "Ada Lovelace"}
    assert ada["score"] > 0.9
    assert "same e-mail address ada@example.com" in ada["reasons"]

    readonly = loyalty.acting_as("readonly")
    [masked] = (await readonly.data(FIND, variables))["findLoyaltyMembers"]
    assert "same e-mail address a***@example.com" in masked["reasons"]
    by_phone = await loyalty.data(FIND, {"phone": "(415) 555-0123"})
    assert [m["customer"]["name"] for m in by_phone["findLoyaltyMembers"]] == ["Grace Hopper"]
    assert (await loyalty.data(FIND, {"email": "nobody@example.com"}))["findLoyaltyMembers"] == []

    wrong = await loyalty.execute(FIND, {"email": "not an address"})
    assert wrong["errors"][0]["extensions"]["code"] == "INVALID_EMAIL"
    assert wrong["errors"][0]["extensions"]["field"] == "email"

    async with (
        loyalty.app.state.crm.read() as session
    ):  # plugin code outside a request sees in clear
        [found] = await find_duplicates(session, phone="+1 415 555 0123", region="US")
    assert isinstance(found.customer, CustomerRow) and found.customer.name == "Grace Hopper"
    assert [(r.code, r.message) for r in found.reasons] == [
        ("PHONE", "same phone number +14155550123")
    ]


MERGE = """
mutation ($survivor: ID!, $merged: ID!, $dryRun: Boolean!) {
  mergeCustomers(input: {survivorId: $survivor, mergedIds: [$merged], dryRun: $dryRun}) {
    plan { moves { owner kind count } }
    errors { code }
  }
}
"""
ENTRIES = "query ($id: ID!) { exportCustomerData(id: $id) }"


async def _two_members(client: GraphQLClient) -> tuple[str, str]:
    ada, twin = await new_customer(client, "Ada"), await new_customer(client, "Ada L.")
    mug = await new_product(client, "MUG")
    await award(client, ada, 50, "welcome")
    await award(client, twin, 400, "Ada L. at the old shop")
    assert (await redeem(client, twin, 100, [{"productId": mug}]))["errors"] == []
    return ada, twin


async def _entries(client: GraphQLClient, customer: str) -> list[tuple[int, str]]:
    document = (await client.data(ENTRIES, {"id": customer}))["exportCustomerData"]
    entries = document["plugins"]["loyalty"]["loyalty_entry"]
    return sorted((e["points"], e["reason"]) for e in entries)


async def test_merge_moves_and_erase_anonymises_the_plugins_rows_with_cores(
    loyalty: GraphQLClient,
) -> None:
    ada, twin = await _two_members(loyalty)
    variables = {"survivor": ada, "merged": twin, "dryRun": True}
    dry = (await loyalty.data(MERGE, variables))["mergeCustomers"]
    assert {"owner": "loyalty", "kind": "loyalty_entries", "count": 2} in dry["plan"]["moves"]
    assert len(await _entries(loyalty, twin)) == 2  # a dry run rolls the plugin's part back too

    done = (await loyalty.data(MERGE, {**variables, "dryRun": False}))["mergeCustomers"]
    assert done["errors"] == []
    moved = await _entries(loyalty, ada)
    assert [points for points, _reason in moved] == [-100, 50, 400]
    assert (await loyalty.data(STATE, {"id": ada}))["customer"]["loyaltyPoints"] == 350

    erased = await loyalty.data(
        "mutation ($id: ID!) { eraseCustomer(input: {id: $id}) { errors { code } } }", {"id": ada}
    )
    assert erased["eraseCustomer"]["errors"] == []
    # Award reasons (free text) go; the redemption's names only the order, which stays.
    [redemption, *awards] = await _entries(loyalty, ada)
    assert redemption[0] == -100 and redemption[1].startswith("Redeemed: ORD-")
    assert awards == [(50, "erased"), (400, "erased")]
    assert (await loyalty.data(STATE, {"id": ada}))["customer"]["loyaltyPoints"] == 350


class Vetoing:
    """A plugin whose part in erasure and merge fails after the loyalty plugin's has run."""

    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="vetoing", version="1.0")

    @hookimpl(trylast=True)
    async def crm_customer_erase(self, session: Any, customer_id: int) -> None:
        raise fail("LEGAL_HOLD", "the customer is under a legal hold", "input", "id")

    @hookimpl(trylast=True)
    async def crm_customer_merge(self, session: Any, survivor_id: int, merged_ids: list) -> dict:
        raise fail("LEGAL_HOLD", "the customer is under a legal hold", "input", "mergedIds")


async def test_a_failing_part_undoes_core_and_every_plugin_in_merge_and_erase(
    loyalty_settings: Settings,
) -> None:
    async with app_client(loyalty_settings, plugins=[crm_loyalty, Vetoing()]) as client:
        ada, twin = await _two_members(client)
        before = await _entries(client, twin)
        variables = {"survivor": ada, "merged": twin, "dryRun": False}
        merged = (await client.data(MERGE, variables))["mergeCustomers"]
        assert merged["errors"] == [{"code": "LEGAL_HOLD"}]
        erased = await client.data(
            "mutation ($id: ID!) { eraseCustomer(input: {id: $id}) { errors { code } } }",
            {"id": twin},
        )
        assert erased["eraseCustomer"]["errors"] == [{"code": "LEGAL_HOLD"}]

        assert await _entries(client, twin) == before
        customer = await client.data(
            "query ($id: ID!) { customer(id: $id) { name deletedAt loyaltyPoints } }",
            {"id": twin},
        )
        assert customer["customer"] == {"name": "Ada L.", "deletedAt": None, "loyaltyPoints": 300}
