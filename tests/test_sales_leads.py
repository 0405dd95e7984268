"""Leads, their conversion, companies and assignment rules, as users and integrations see
them: GraphQL over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import crm_sales
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from tests.sales_support import create_deal, events, new_customer


@pytest.fixture
async def sales(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async with app_client(settings, plugins=[crm_sales]) as client:
        yield client


LEAD = "id name company email phone source status disqualifiedReason version owner { userId }"


async def create_lead(client: GraphQLClient, **input: Any) -> dict[str, Any]:
    data = await client.data(
        f"mutation ($input: CreateLeadInput!) {{ createLead(input: $input) "
        f"{{ lead {{ {LEAD} }} errors {{ code field }} }} }}",
        {"input": input},
    )
    return data["createLead"]


async def change_status(client: GraphQLClient, **input: Any) -> dict[str, Any]:
    data = await client.data(
        f"mutation ($input: ChangeLeadStatusInput!) {{ changeLeadStatus(input: $input) "
        f"{{ lead {{ {LEAD} }} errors {{ code field }} }} }}",
        {"input": input},
    )
    return data["changeLeadStatus"]


CONVERT = """
mutation ($input: ConvertLeadInput!) {
  convertLead(input: $input) {
    dryRun createdCustomer
    lead { status convertedCustomer { id } }
    customer { id name email phone owner { userId } }
    duplicates { customer { id } score reasons }
    deal { name amount { amount currency } owner { userId } }
    errors { code field }
  }
}
"""


async def test_leads_are_normalised_masked_and_refused_like_customers(
    sales: GraphQLClient,
) -> None:
    made = await create_lead(
        sales,
        name="  Grace Hopper ",
        company="Navy",
        email="Grace@NAVY.example",
        phone="+1 415 555 0123",
        source="EVENT",
        attributes={"country": "US"},
    )
    assert made["errors"] == []
    lead = made["lead"]
    assert (lead["name"], lead["email"], lead["phone"]) == (
        "Grace Hopper",
        "grace@navy.example",
        "+14155550123",
    )
    assert (lead["source"], lead["status"], lead["owner"]) == (
        "EVENT",
        "NEW",
        {"userId": "test-admin"},
    )

    bad = await create_lead(sales, name="", email="not-an-address", phone="12", ownerId="ghost")
    assert {(e["code"], ".".join(e["field"])) for e in bad["errors"]} == {
        ("REQUIRED", "input.name"),
        ("INVALID_EMAIL", "input.email"),
        ("INVALID_PHONE", "input.phone"),
        ("NOT_FOUND", "input.ownerId"),
    }
    assert (await sales.data("{ leads { totalCount } }"))["leads"]["totalCount"] == 1

    analyst = sales.acting_as("analyst", "ana")
    seen = (await analyst.data(f"{{ leads {{ nodes {{ {LEAD} attributes }} }} }}"))["leads"]
    masked = seen["nodes"][0]
    assert (masked["name"], masked["email"], masked["phone"], masked["company"]) == (
        "***",
        "g***@navy.example",
        "+1********23",
        "***",
    )
    assert masked["attributes"] == {}
    refused = await analyst.execute('{ leads(filter: {search: "grace"}) { totalCount } }')
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    found = await sales.data('{ leads(filter: {search: "NAVY"}) { nodes { name } } }')
    assert found["leads"]["nodes"] == [{"name": "Grace Hopper"}]


async def test_the_status_machine_needs_a_reason_to_disqualify(sales: GraphQLClient) -> None:
    lead = (await create_lead(sales, name="Ada"))["lead"]
    working = await change_status(sales, id=lead["id"], status="WORKING")
    assert working["lead"]["status"] == "WORKING"
    unexplained = await change_status(sales, id=lead["id"], status="DISQUALIFIED")
    assert unexplained["errors"] == [{"code": "REQUIRED", "field": ["input", "reason"]}]
    stale = await change_status(
        sales, id=lead["id"], status="QUALIFIED", expectedVersion=lead["version"]
    )
    assert stale["errors"] == [{"code": "CONFLICT", "field": ["input", "expectedVersion"]}]
    gone = await change_status(sales, id=lead["id"], status="DISQUALIFIED", reason="No budget")
    assert (gone["lead"]["status"], gone["lead"]["disqualifiedReason"]) == (
        "DISQUALIFIED",
        "No budget",
    )
    direct = await change_status(sales, id=lead["id"], status="CONVERTED")
    assert direct["errors"] == [{"code": "INVALID_TRANSITION", "field": ["input", "status"]}]
    refused = await sales.data(CONVERT, {"input": {"id": lead["id"]}})
    assert refused["convertLead"]["errors"] == [
        {"code": "INVALID_TRANSITION", "field": ["input", "id"]}
    ]
    reopened = await change_status(sales, id=lead["id"], status="WORKING")
    assert (reopened["lead"]["status"], reopened["lead"]["disqualifiedReason"]) == ("WORKING", None)
    changes = await events(sales, "lead.created", "lead.status_changed")
    assert [(e["type"], e["payload"]["status"]) for e in changes] == [
        ("lead.created", "NEW"),
        ("lead.status_changed", "WORKING"),
        ("lead.status_changed", "DISQUALIFIED"),
        ("lead.status_changed", "WORKING"),
    ]
    assert changes[0]["payload"]["name"] == "Ada"


async def test_lead_events_mask_contact_details_and_need_leads_read(settings: Settings) -> None:
    roles = {"auditor": ["events:read", "leads:read"], "watcher": ["events:read"]}
    async with app_client(
        settings.model_copy(update={"roles": roles}), plugins=[crm_sales]
    ) as sales:
        await create_lead(
            sales, name="Grace Hopper", email="grace@navy.example", phone="+14155550123"
        )
        auditor = (await events(sales.acting_as("auditor", "aud"), "lead.created"))[0]["payload"]
        assert (auditor["name"], auditor["email"], auditor["phone"]) == (
            "***",
            "g***@navy.example",
            "+1********23",
        )
        assert auditor["source"] == "other"
        watcher = await events(sales.acting_as("watcher", "w"), "lead.created")
        assert watcher[0]["payload"] is None
        admin = (await events(sales, "lead.created"))[0]["payload"]
        assert admin["email"] == "grace@navy.example"


async def test_converting_links_an_existing_duplicate_and_a_dry_run_writes_nothing(
    sales: GraphQLClient,
) -> None:
    ada = await new_customer(sales, "Ada Lovelace", email="ada@example.com")
    lead = (
        await create_lead(sales, name="A. Lovelace", email="ADA@example.com", company="Engines")
    )["lead"]
    dry = (await sales.data(CONVERT, {"input": {"id": lead["id"], "dryRun": True}}))["convertLead"]
    assert dry["errors"] == [] and dry["dryRun"] is True
    assert dry["createdCustomer"] is False
    assert dry["customer"]["id"] == ada
    assert dry["duplicates"][0]["customer"]["id"] == ada
    assert dry["duplicates"][0]["score"] >= 0.9  # the same e-mail address
    assert dry["lead"]["status"] == "NEW"
    assert await events(sales, "lead.converted") == []

    done = (
        await sales.data(
            CONVERT,
            {"input": {"id": lead["id"], "deal": {"amount": "5000", "currency": "GBP"}}},
        )
    )["convertLead"]
    assert done["errors"] == []
    assert (done["createdCustomer"], done["customer"]["id"]) == (False, ada)
    assert done["lead"] == {"status": "CONVERTED", "convertedCustomer": {"id": ada}}
    assert done["deal"] == {
        "name": "Engines",
        "amount": {"amount": "5000.00", "currency": "GBP"},
        "owner": {"userId": "test-admin"},
    }
    customers = await sales.data("{ customers { totalCount } }")
    assert customers["customers"]["totalCount"] == 1
    converted = await events(sales, "lead.converted")
    assert converted[0]["payload"]["customerId"] == ada
    assert converted[0]["payload"]["createdCustomer"] is False
    again = (await sales.data(CONVERT, {"input": {"id": lead["id"]}}))["convertLead"]
    assert again["errors"] == [{"code": "INVALID_TRANSITION", "field": ["input", "id"]}]


async def test_converting_a_new_person_creates_the_customer_for_the_leads_owner(
    sales: GraphQLClient,
) -> None:
    sam = sales.acting_as("sales", "sam")
    await sam.data("{ viewer { role } }")
    lead = (
        await create_lead(
            sales, name="Bo", email="bo@shop.example", phone="+44 20 7946 0958", ownerId="sam"
        )
    )["lead"]
    bad_deal = (await sam.data(CONVERT, {"input": {"id": lead["id"], "deal": {"amount": "-3"}}}))[
        "convertLead"
    ]
    assert bad_deal["errors"] == [{"code": "INVALID_AMOUNT", "field": ["input", "deal", "amount"]}]
    assert (await sales.data("{ customers { totalCount } }"))["customers"]["totalCount"] == 0
    done = (await sam.data(CONVERT, {"input": {"id": lead["id"]}}))["convertLead"]
    assert done["errors"] == [] and done["createdCustomer"] is True
    assert done["customer"]["name"] == "Bo"
    assert done["customer"]["email"] == "bo@shop.example"
    assert done["customer"]["phone"] == "+442079460958"
    assert done["customer"]["owner"] == {"userId": "sam"}
    assert done["deal"] is None
    created = await events(sales, "customer.created")
    assert [e["entityId"] for e in created] == [done["customer"]["id"]]


async def test_companies_link_contacts_and_suggest_them_by_email_domain(
    sales: GraphQLClient,
) -> None:
    made = await sales.data(
        'mutation { createCompany(input: {name: "Acme", domain: "WWW.Acme.example", '
        'industry: "Tools", size: 120}) { company { id domain } errors { code field } } }'
    )
    company = made["createCompany"]["company"]
    assert company["domain"] == "acme.example"
    twice = await sales.data(
        'mutation { createCompany(input: {name: "Acme 2", domain: "acme.example"}) '
        "{ errors { code field } } }"
    )
    assert twice["createCompany"]["errors"] == [{"code": "DUPLICATE", "field": ["input", "domain"]}]
    wile = await new_customer(sales, "Wile", email="wile@acme.example")
    road = await new_customer(sales, "Road", email="road@acme.example")
    await new_customer(sales, "Free", email="free@gmail.com")
    await create_deal(sales, name="Anvils", customerId=wile, amount="300")
    suggested = await sales.data(
        "query ($id: ID!) { company(id: $id) { suggestedContacts { name } contacts { name } } }",
        {"id": company["id"]},
    )
    assert suggested["company"] == {
        "suggestedContacts": [{"name": "Wile"}, {"name": "Road"}],
        "contacts": [],
    }
    linked = await sales.data(
        "mutation ($c: ID!, $u: ID!) { linkCompanyContact(input: {companyId: $c, customerId: $u}) "
        "{ company { contacts { name } suggestedContacts { name } deals { name } } errors { code } } }",
        {"c": company["id"], "u": wile},
    )
    assert linked["linkCompanyContact"]["company"] == {
        "contacts": [{"name": "Wile"}],
        "suggestedContacts": [{"name": "Road"}],
        "deals": [{"name": "Anvils"}],
    }
    account = await sales.data(
        "query ($w: ID!, $r: ID!) { w: customer(id: $w) { company account { name } } "
        "r: customer(id: $r) { account { name } } }",
        {"w": wile, "r": road},
    )
    assert account == {"w": {"company": None, "account": {"name": "Acme"}}, "r": {"account": None}}
    by_company = await sales.data(
        "query ($c: ID!) { deals(filter: {companyId: $c}) { nodes { name } } }",
        {"c": company["id"]},
    )
    assert by_company["deals"]["nodes"] == [{"name": "Anvils"}]


UPDATE_COMPANY = """
mutation ($input: UpdateCompanyInput!) {
  updateCompany(input: $input) {
    company { name domain industry size version updatedAt owner { userId } }
    errors { code field }
  }
}
"""


async def test_a_company_is_updated_with_its_version_and_refused_with_typed_errors(
    sales: GraphQLClient,
) -> None:
    sam = sales.acting_as("sales", "sam")
    await sales.acting_as("sales", "kim").data("{ viewer { role } }")
    made = await sam.data(
        'mutation { createCompany(input: {name: "Acme", domain: "acme.example"}) '
        "{ company { id version updatedAt } } }"
    )
    acme = made["createCompany"]["company"]
    assert (acme["version"], acme["updatedAt"]) == (1, None)
    await sales.data(
        'mutation { createCompany(input: {name: "Other", domain: "other.example"}) '
        "{ errors { code } } }"
    )

    async def update(client: GraphQLClient, **input: Any) -> dict[str, Any]:
        done = await client.data(UPDATE_COMPANY, {"input": {"id": acme["id"], **input}})
        return done["updateCompany"]

    bad = await update(
        sam, name=" ", domain="OTHER.example", size=0, ownerId="kim", attributes={"a": [1]}
    )
    assert {(e["code"], ".".join(e["field"])) for e in bad["errors"]} == {
        ("REQUIRED", "input.name"),
        ("DUPLICATE", "input.domain"),
        ("INVALID_VALUE", "input.size"),
        ("FORBIDDEN", "input.ownerId"),
        ("INVALID_VALUE", "input.attributes.a"),
    }
    assert bad["company"] is None
    assert (await update(sam, domain="not a domain"))["errors"] == [
        {"code": "INVALID_DOMAIN", "field": ["input", "domain"]}
    ]
    done = await update(
        sam,
        expectedVersion=1,
        name="Acme Corp",
        domain="www.ACME.example",
        industry="Tools",
        size=40,
    )
    assert done["errors"] == []
    company = done["company"]
    assert {k: company[k] for k in ("name", "domain", "industry", "size", "version")} == {
        "name": "Acme Corp",
        "domain": "acme.example",
        "industry": "Tools",
        "size": 40,
        "version": 2,
    }
    assert company["updatedAt"] is not None and company["owner"] == {"userId": "sam"}
    assert (await update(sam, expectedVersion=1, industry="X"))["errors"] == [
        {"code": "CONFLICT", "field": ["input", "expectedVersion"]}
    ]
    assert (await update(sales.acting_as("sales", "kim"), name="Mine"))["errors"] == [
        {"code": "NOT_FOUND", "field": ["input", "id"]}
    ]
    given = await update(sales, ownerId="kim")
    assert given["company"]["owner"] == {"userId": "kim"}
    updated = await events(sales, "company.updated")
    assert [e["payload"]["version"] for e in updated] == [2, 3]
    assert updated[1]["payload"]["ownerId"] == "kim"


async def _team(client: GraphQLClient, name: str, members: list[str]) -> str:
    team = await client.data(
        "mutation ($n: String!) { createTeam(input: {name: $n}) { team { id } } }", {"n": name}
    )
    team_id = team["createTeam"]["team"]["id"]
    users = (await client.data("{ users(first: 100) { nodes { id userId } } }"))["users"]["nodes"]
    ids = {u["userId"]: u["id"] for u in users}
    for member in members:
        await client.data(
            "mutation ($t: ID!, $u: ID!) { addTeamMember(input: {teamId: $t, userId: $u}) "
            "{ errors { code } } }",
            {"t": team_id, "u": ids[member]},
        )
    return team_id


RULE = """
mutation ($input: CreateLeadAssignmentRuleInput!) {
  createLeadAssignmentRule(input: $input) { rule { name position attribute values team { name } } errors { code field } }
}
"""


async def test_assignment_rules_round_robin_within_a_team_and_by_territory(
    sales: GraphQLClient,
) -> None:
    for user in ("amy", "ben", "dora"):
        await sales.acting_as("sales", user).data("{ viewer { role } }")
    everyone = await _team(sales, "Inside", ["amy", "ben"])
    dach = await _team(sales, "DACH", ["dora"])
    territory = await sales.data(
        RULE,
        {"input": {"name": "DACH", "teamId": dach, "attribute": "country", "values": ["DE", "AT"]}},
    )
    assert territory["createLeadAssignmentRule"]["rule"] == {
        "name": "DACH",
        "position": 0,
        "attribute": "country",
        "values": ["DE", "AT"],
        "team": {"name": "DACH"},
    }
    await sales.data(RULE, {"input": {"name": "Rest", "teamId": everyone}})
    bad = await sales.data(
        RULE, {"input": {"name": "X", "teamId": everyone, "attribute": "country"}}
    )
    assert bad["createLeadAssignmentRule"]["errors"] == [
        {"code": "REQUIRED", "field": ["input", "values"]}
    ]

    owners = []
    for n, country in enumerate(["US", "de", "FR", "UK", "AT"]):
        made = await create_lead(sales, name=f"L{n}", attributes={"country": country})
        owners.append(made["lead"]["owner"]["userId"])
    assert owners == ["amy", "dora", "ben", "amy", "dora"]
    chosen = await create_lead(sales, name="Mine", ownerId="ben")
    assert chosen["lead"]["owner"] == {"userId": "ben"}


async def test_merge_moves_tasks_and_converted_leads_and_erase_removes_lead_data(
    sales: GraphQLClient,
) -> None:
    ada, ada2 = (
        await new_customer(sales, "Ada"),
        await new_customer(sales, "Ada 2", email="a2@x.example"),
    )
    lead = (await create_lead(sales, name="Ada Two", email="a2@x.example"))["lead"]
    done = (await sales.data(CONVERT, {"input": {"id": lead["id"]}}))["convertLead"]
    assert done["customer"]["id"] == ada2
    task = await sales.data(
        'mutation ($c: ID!) { createSalesTask(input: {title: "Call", notes: "ask about Bob", '
        'dueAt: "2030-01-01T09:00:00Z", customerId: $c}) { task { id } errors { code } } }',
        {"c": ada2},
    )
    assert task["createSalesTask"]["errors"] == []
    merged = await sales.data(
        "mutation ($s: ID!, $m: ID!) { mergeCustomers(input: {survivorId: $s, mergedIds: [$m]}) "
        "{ errors { code } plan { moves { owner kind count } } } }",
        {"s": ada, "m": ada2},
    )
    moves = merged["mergeCustomers"]["plan"]["moves"]
    assert {"owner": "sales", "kind": "leads", "count": 1} in moves
    assert {"owner": "sales", "kind": "tasks", "count": 1} in moves
    tasks = await sales.data(
        "query ($c: ID!) { salesTasks(filter: {customerId: $c}) { nodes { title customer { id } } } }",
        {"c": ada},
    )
    assert tasks["salesTasks"]["nodes"] == [{"title": "Call", "customer": {"id": ada}}]

    exported = await sales.data("query ($id: ID!) { exportCustomerData(id: $id) }", {"id": ada})
    assert "a2@x.example" in str(exported)
    erased = await sales.data(
        "mutation ($id: ID!) { eraseCustomer(input: {id: $id}) { errors { code } } }", {"id": ada}
    )
    assert erased["eraseCustomer"]["errors"] == []
    after = await sales.data(
        f"query ($id: ID!) {{ lead(id: $id) {{ {LEAD} }} }}", {"id": lead["id"]}
    )
    assert (after["lead"]["name"], after["lead"]["email"], after["lead"]["phone"]) == (
        "erased",
        None,
        None,
    )
    notes = await sales.data("{ salesTasks { nodes { title notes } } }")
    assert notes["salesTasks"]["nodes"] == [{"title": "Call", "notes": None}]
