"""A customer's GDPR export and erasure reach every sales record about it: the leads it came
from, its deals and their quotes, the tasks about it, its deals or its leads, and its company
link. GraphQL over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import crm_sales
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from tests.sales_support import create_deal, new_customer


@pytest.fixture
async def sales(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with app_client(settings, plugins=[crm_sales]) as client:
        yield client


async def _id(client: GraphQLClient, query: str, variables: dict, *path: str) -> str:
    found = await client.data(query, variables)
    for key in path:
        found = found[key]
    return found["id"]


async def test_export_and_erase_cover_leads_deals_quotes_tasks_and_the_company_link(
    sales: GraphQLClient,
) -> None:
    ada = await new_customer(sales, "Ada", email="ada@engines.example")
    lead = await _id(
        sales,
        'mutation { createLead(input: {name: "Ada L.", email: "ada@engines.example", '
        'phone: "+14155550123"}) { lead { id } } }',
        {},
        "createLead",
        "lead",
    )
    converted = await sales.data(
        "mutation ($id: ID!, $c: ID!) { convertLead(input: {id: $id, customerId: $c}) "
        "{ errors { code } } }",
        {"id": lead, "c": ada},
    )
    assert converted["convertLead"]["errors"] == []
    deal = (await create_deal(sales, name="Engines", customerId=ada, amount="90", currency="USD"))[
        "deal"
    ]["id"]
    product = await _id(
        sales,
        'mutation { createProduct(input: {sku: "E-1", name: "Engine", price: "45", '
        'currency: "USD"}) { product { id } } }',
        {},
        "createProduct",
        "product",
    )
    quote = await _id(
        sales,
        "mutation ($d: ID!, $p: ID!) { createQuote(input: {dealId: $d, lines: [{productId: $p, "
        'quantity: 2}], contactName: "Ada Byron", contactEmail: "byron@engines.example"}) '
        "{ quote { id } } }",
        {"d": deal, "p": product},
        "createQuote",
        "quote",
    )
    for about, value in (("dealId", deal), ("leadId", lead)):
        made = await sales.data(
            f'mutation ($v: ID!) {{ createSalesTask(input: {{title: "Call", '
            f'notes: "her home number is 555", dueAt: "2030-01-01T09:00:00Z", {about}: $v}}) '
            "{ errors { code } } }",
            {"v": value},
        )
        assert made["createSalesTask"]["errors"] == []
    company = await _id(
        sales,
        'mutation { createCompany(input: {name: "Engines Ltd"}) { company { id } } }',
        {},
        "createCompany",
        "company",
    )
    await sales.data(
        "mutation ($c: ID!, $u: ID!) { linkCompanyContact(input: {companyId: $c, customerId: $u}) "
        "{ errors { code } } }",
        {"c": company, "u": ada},
    )

    export = "query ($id: ID!) { exportCustomerData(id: $id) }"
    document = (await sales.data(export, {"id": ada}))["exportCustomerData"]["plugins"]["sales"]
    assert [lead["email"] for lead in document["leads"]] == ["ada@engines.example"]
    assert [(d["id"], d["name"], d["amount"]) for d in document["deals"]] == [
        (deal, "Engines", "90.00")
    ]
    assert document["quotes"] == [
        {
            "dealId": deal,
            "status": "draft",
            "contactName": "Ada Byron",
            "contactEmail": "byron@engines.example",
            "validUntil": None,
            "currency": "USD",
            "total": "90.00",
            "lines": [{"productId": product, "quantity": 2, "unitPrice": "45.00", "net": "90.00"}],
        }
    ]
    assert [t["notes"] for t in document["tasks"]] == ["her home number is 555"] * 2
    assert document["company"] == {"name": "Engines Ltd", "domain": None}

    erased = await sales.data(
        "mutation ($id: ID!) { eraseCustomer(input: {id: $id}) { errors { code } } }", {"id": ada}
    )
    assert erased["eraseCustomer"]["errors"] == []
    after = (await sales.data(export, {"id": ada}))["exportCustomerData"]["plugins"]["sales"]
    assert [(lead["name"], lead["email"], lead["phone"]) for lead in after["leads"]] == [
        ("erased", None, None)
    ]
    assert [(q["contactName"], q["contactEmail"], q["total"]) for q in after["quotes"]] == [
        (None, None, "90.00")
    ]
    assert [t["notes"] for t in after["tasks"]] == [None, None]
    assert after["company"] is None
    seen = await sales.data(
        "query ($q: ID!, $c: ID!) { quote(id: $q) { contactName contactEmail deal { name } } "
        "company(id: $c) { contacts { id } } }",
        {"q": quote, "c": company},
    )
    assert seen == {
        "quote": {"contactName": None, "contactEmail": None, "deal": {"name": "Engines"}},
        "company": {"contacts": []},
    }
