"""Quotes: totals in the deal's currency, and acceptance placing a core order and winning the
deal in one transaction (or nothing at all). SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest

import crm_sales
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from tests.sales_support import create_deal, events, new_customer

QUOTE = """
mutation ($input: CreateQuoteInput!) {
  createQuote(input: $input) {
    quote { id status version subtotal { amount currency } discount { amount } tax { amount }
            total { amount currency } contactEmail
            lines { quantity unitPrice { amount currency } net { amount } tax { amount } product { sku } } }
    errors { code field }
  }
}
"""
ACT = """
mutation ($input: QuoteActionInput!) {
  %s(input: $input) {
    quote { status order { number total { amount currency } lines { quantity unitPrice { amount } } }
            deal { status stage { name } } }
    errors { code field }
  }
}
"""


@pytest.fixture
async def sales(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with app_client(settings, plugins=[crm_sales]) as client:
        yield client


async def _product(client: GraphQLClient, sku: str, price: str, currency: str) -> str:
    made = await client.data(
        "mutation ($input: CreateProductInput!) { createProduct(input: $input) { product { id } } }",
        {"input": {"sku": sku, "name": sku, "price": price, "currency": currency}},
    )
    return made["createProduct"]["product"]["id"]


async def _act(client: GraphQLClient, action: str, quote: str) -> dict:
    return (await client.data(ACT % action, {"input": {"id": quote}}))[action]


async def test_a_quote_totals_its_lines_and_acceptance_orders_and_wins(
    sales: GraphQLClient,
) -> None:
    ada = await new_customer(sales, "Ada")
    widget = await _product(sales, "W-1", "10", "USD")
    gadget = await _product(sales, "G-1", "5", "EUR")
    deal = (await create_deal(sales, name="Widgets", customerId=ada, amount="40", currency="USD"))[
        "deal"
    ]
    lines = [
        {"productId": widget, "quantity": 3, "discountPercent": "10", "taxRatePercent": "20"},
        {"productId": gadget, "quantity": 2},
    ]
    mismatch = (await sales.data(QUOTE, {"input": {"dealId": deal["id"], "lines": lines}}))[
        "createQuote"
    ]
    assert mismatch["errors"] == [
        {"code": "CURRENCY_MISMATCH", "field": ["input", "lines", "1", "unitPrice"]}
    ]
    lines[1]["unitPrice"] = "7.25"
    made = (
        await sales.data(
            QUOTE,
            {"input": {"dealId": deal["id"], "lines": lines, "contactEmail": "Buyer@Ada.example"}},
        )
    )["createQuote"]
    assert made["errors"] == []
    quote = made["quote"]
    assert (quote["status"], quote["contactEmail"]) == ("DRAFT", "buyer@ada.example")
    assert quote["subtotal"] == {"amount": "44.50", "currency": "USD"}
    assert (quote["discount"], quote["tax"]) == ({"amount": "3.00"}, {"amount": "5.40"})
    assert quote["total"] == {"amount": "46.90", "currency": "USD"}
    assert quote["lines"] == [
        {
            "quantity": 3,
            "unitPrice": {"amount": "10.00", "currency": "USD"},
            "net": {"amount": "27.00"},
            "tax": {"amount": "5.40"},
            "product": {"sku": "W-1"},
        },
        {
            "quantity": 2,
            "unitPrice": {"amount": "7.25", "currency": "USD"},
            "net": {"amount": "14.50"},
            "tax": {"amount": "0.00"},
            "product": {"sku": "G-1"},
        },
    ]
    early = await _act(sales, "acceptQuote", quote["id"])
    assert early["errors"] == [{"code": "INVALID_TRANSITION", "field": ["input", "id"]}]
    assert (await _act(sales, "sendQuote", quote["id"]))["quote"]["status"] == "SENT"

    accepted = await _act(sales, "acceptQuote", quote["id"])
    assert accepted["errors"] == []
    assert accepted["quote"]["status"] == "ACCEPTED"
    assert accepted["quote"]["deal"] == {"status": "WON", "stage": {"name": "Closed won"}}
    order = accepted["quote"]["order"]
    assert order["total"] == {"amount": "41.50", "currency": "USD"}
    assert [(line["quantity"], line["unitPrice"]["amount"]) for line in order["lines"]] == [
        (3, "9.00"),
        (2, "7.25"),
    ]
    placed = await events(sales, "order.placed", "quote.accepted", "deal.won")
    assert [e["type"] for e in placed] == ["order.placed", "deal.won", "quote.accepted"]
    again = await _act(sales, "acceptQuote", quote["id"])
    assert again["errors"] == [{"code": "INVALID_TRANSITION", "field": ["input", "id"]}]


async def test_a_failed_acceptance_writes_nothing_and_expired_quotes_refuse(
    sales: GraphQLClient,
) -> None:
    ada = await new_customer(sales, "Ada")
    widget = await _product(sales, "W-1", "10", "USD")
    deal = (await create_deal(sales, name="Widgets", customerId=ada, amount="10", currency="USD"))[
        "deal"
    ]
    one = [{"productId": widget, "quantity": 1}]
    quote = (await sales.data(QUOTE, {"input": {"dealId": deal["id"], "lines": one}}))[
        "createQuote"
    ]["quote"]
    await _act(sales, "sendQuote", quote["id"])
    await sales.data(
        "mutation ($id: ID!) { deleteCustomer(input: {id: $id}) { errors { code } } }", {"id": ada}
    )
    failed = await _act(sales, "acceptQuote", quote["id"])
    assert failed["errors"][0]["code"] in ("DELETED", "NOT_FOUND")
    state = await sales.data(
        "query ($id: ID!) { quote(id: $id) { status order { id } deal { status } } }",
        {"id": quote["id"]},
    )
    assert state["quote"] == {"status": "SENT", "order": None, "deal": {"status": "OPEN"}}
    assert await events(sales, "order.placed", "deal.won", "quote.accepted") == []

    await sales.data(
        "mutation ($id: ID!) { restoreCustomer(input: {id: $id}) { errors { code } } }", {"id": ada}
    )
    stale = (
        await sales.data(
            QUOTE,
            {
                "input": {
                    "dealId": deal["id"],
                    "lines": one,
                    "validUntil": str(date.today() - timedelta(days=2)),
                }
            },
        )
    )["createQuote"]["quote"]
    refused = await _act(sales, "sendQuote", stale["id"])
    assert refused["errors"] == [{"code": "QUOTE_EXPIRED", "field": ["input", "id"]}]
    declined = await _act(sales, "declineQuote", quote["id"])
    assert declined["quote"]["status"] == "DECLINED"


UPDATE = """
mutation ($input: UpdateQuoteInput!) {
  updateQuote(input: $input) {
    quote { status version validUntil contactName contactEmail subtotal { amount } discount { amount }
            tax { amount } total { amount currency }
            lines { quantity unitPrice { amount } discountPercent net { amount } tax { amount } product { sku } } }
    errors { code field }
  }
}
"""


async def test_a_draft_quote_is_edited_line_by_line_and_a_sent_one_no_more(
    sales: GraphQLClient,
) -> None:
    ada = await new_customer(sales, "Ada")
    widget = await _product(sales, "W-1", "10", "USD")
    gadget = await _product(sales, "G-1", "5", "EUR")
    deal = (await create_deal(sales, name="Widgets", customerId=ada, amount="10", currency="USD"))[
        "deal"
    ]
    made = await sales.data(
        QUOTE, {"input": {"dealId": deal["id"], "lines": [{"productId": widget, "quantity": 1}]}}
    )
    quote = made["createQuote"]["quote"]

    async def update(**input) -> dict:
        return (await sales.data(UPDATE, {"input": {"id": quote["id"], **input}}))["updateQuote"]

    bad = await update(
        contactEmail="not an address",
        lines=[
            {"productId": widget, "quantity": 0, "discountPercent": "101"},
            {"productId": gadget, "quantity": 1},
        ],
    )
    assert {(e["code"], ".".join(e["field"])) for e in bad["errors"]} == {
        ("INVALID_EMAIL", "input.contactEmail"),
        ("INVALID_QUANTITY", "input.lines.0.quantity"),
        ("INVALID_VALUE", "input.lines.0.discountPercent"),
        ("CURRENCY_MISMATCH", "input.lines.1.unitPrice"),
    }
    assert (await update(lines=[]))["errors"] == [
        {"code": "INVALID_VALUE", "field": ["input", "lines"]}
    ]
    assert (await update(lines=[{"productId": "nope"}]))["errors"][0]["field"] == [
        "input",
        "lines",
        "0",
        "productId",
    ]
    unchanged = await sales.data(
        "query ($id: ID!) { quote(id: $id) { version total { amount } lines { quantity } } }",
        {"id": quote["id"]},
    )
    assert unchanged["quote"] == {
        "version": 1,
        "total": {"amount": "10.00"},
        "lines": [{"quantity": 1}],
    }

    edited = await update(
        expectedVersion=1,
        contactName="Ada Byron",
        validUntil="2099-01-31",
        lines=[
            {"productId": gadget, "quantity": 3, "unitPrice": "4", "taxRatePercent": "10"},
            {"productId": widget, "quantity": 2, "discountPercent": "25"},
        ],
    )
    assert edited["errors"] == []
    changed = edited["quote"]
    assert (changed["status"], changed["version"], changed["validUntil"]) == (
        "DRAFT",
        2,
        "2099-01-31",
    )
    assert changed["contactName"] == "Ada Byron"
    # gadget 3 x 4.00 = 12.00 net, tax 1.20; widget 2 x 10.00 = 20.00 less 25% = 15.00 net
    assert [
        (line["product"]["sku"], line["quantity"], line["net"]["amount"])
        for line in changed["lines"]
    ] == [
        ("G-1", 3, "12.00"),
        ("W-1", 2, "15.00"),
    ]
    assert (changed["subtotal"], changed["discount"], changed["tax"]) == (
        {"amount": "32.00"},
        {"amount": "5.00"},
        {"amount": "1.20"},
    )
    assert changed["total"] == {"amount": "28.20", "currency": "USD"}
    updated = await events(sales, "quote.updated")
    assert [e["entityId"] for e in updated] == [quote["id"]]
    assert {k: updated[0]["payload"][k] for k in ("status", "lines", "version")} == {
        "status": "DRAFT",
        "lines": 2,
        "version": 2,
    }
    assert (await update(expectedVersion=1, contactName="X"))["errors"] == [
        {"code": "CONFLICT", "field": ["input", "expectedVersion"]}
    ]
    rep = sales.acting_as("sales", "sam")
    hidden = await rep.data(UPDATE, {"input": {"id": quote["id"], "contactName": "X"}})
    assert hidden["updateQuote"]["errors"] == [{"code": "NOT_FOUND", "field": ["input", "id"]}]

    await _act(sales, "sendQuote", quote["id"])
    sent = await update(lines=[{"productId": widget, "quantity": 9}])
    assert sent["errors"] == [{"code": "INVALID_TRANSITION", "field": ["input", "id"]}]
    accepted = await _act(sales, "acceptQuote", quote["id"])
    assert [
        (line["quantity"], line["unitPrice"]["amount"])
        for line in accepted["quote"]["order"]["lines"]
    ] == [
        (3, "4.00"),
        (2, "7.50"),
    ]


async def test_a_quote_shows_its_deal_only_to_who_may_read_deals(settings: Settings) -> None:
    """A role granted quotes but not deals sees the quote and a FORBIDDEN on its deal."""
    quoter = settings.model_copy(update={"roles": {"quoter": ["quotes:read", "customers:read"]}})
    async with app_client(quoter, plugins=[crm_sales]) as sales:
        ada = await new_customer(sales, "Ada")
        widget = await _product(sales, "W-1", "10", "USD")
        deal = await create_deal(sales, name="W", customerId=ada, amount="10", currency="USD")
        lines = [{"productId": widget, "quantity": 1}]
        made = await sales.data(QUOTE, {"input": {"dealId": deal["deal"]["id"], "lines": lines}})
        quote = made["createQuote"]["quote"]["id"]
        read = "query ($id: ID!) { quote(id: $id) { id deal { id } } }"
        admin = await sales.data(read, {"id": quote})
        assert admin["quote"]["deal"] == {"id": deal["deal"]["id"]}
        seen = await sales.acting_as("quoter").execute(read, {"id": quote})
    assert seen["data"]["quote"] == {"id": quote, "deal": None}
    assert [(e["path"], e["extensions"]["permission"]) for e in seen["errors"]] == [
        (["quote", "deal"], "deals:read")
    ]
