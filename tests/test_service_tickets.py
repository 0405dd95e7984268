"""The service plugin's tickets over GraphQL, on SQLite and PostgreSQL: the status machine and
its history, replies and the first-response clock, linked interactions, the tickets query,
Customer.tickets, scopes, events, merge, erasure and export."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import crm_service
from crm_graph.demo import seed_demo
from crm_graph.settings import Settings
from crm_graph.testing import TEST_USER, GraphQLClient, app_client
from tests.service_support import (
    events_of,
    mutate,
    new_customer,
    new_ticket,
    ok,
    reply,
    set_status,
)
from tests.test_compiled_reads import COMPILED, ROLES, same_answer


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[GraphQLClient]:
    settings = settings.model_copy(update={"rate_limit_per_minute": 0})
    async with app_client(settings, plugins=[crm_service]) as client:
        yield client


async def test_a_ticket_walks_the_status_machine_and_keeps_every_step(
    service: GraphQLClient,
) -> None:
    ada = await new_customer(service)
    ticket = await new_ticket(
        service, ada, channel="EMAIL", priority="HIGH", tags=["Billing", "billing", "vip"]
    )
    assert ticket["status"] == "NEW" and ticket["priority"] == "HIGH"
    assert ticket["tags"] == ["billing", "vip"] and ticket["customer"] == {"id": ada}
    assert ticket["allowedStatuses"] == ["OPEN", "PENDING", "RESOLVED"]
    assert [(s["from"], s["to"]) for s in ticket["statusChanges"]] == [(None, "NEW")]

    path = ["OPEN", "PENDING", "OPEN", "RESOLVED", "OPEN", "RESOLVED", "CLOSED"]
    for status in path:
        payload = await set_status(service, ticket["id"], status)
        assert payload["errors"] == [], (status, payload)
    final = payload["ticket"]
    steps = final["statusChanges"]
    assert [s["to"] for s in steps] == ["NEW", *path]
    assert [s["from"] for s in steps] == [None, "NEW", *path[:-1]]
    assert all(s["actor"] == {"userId": TEST_USER} for s in steps)
    assert [s["at"] for s in steps] == sorted(s["at"] for s in steps)
    assert final["closedAt"] is not None and final["resolvedAt"] is not None
    assert final["allowedStatuses"] == [] and final["version"] == 1 + len(path)


async def test_an_illegal_transition_names_the_allowed_ones_and_writes_nothing(
    service: GraphQLClient,
) -> None:
    ticket = await new_ticket(service, await new_customer(service))
    refused = await set_status(service, ticket["id"], "CLOSED")
    assert refused["ticket"] is None
    assert refused["errors"] == [
        {
            "code": "INVALID_TRANSITION",
            "message": "a NEW ticket cannot become CLOSED; allowed: OPEN, PENDING, RESOLVED",
            "field": ["input", "status"],
        }
    ]
    for status in ("RESOLVED", "CLOSED"):
        assert (await set_status(service, ticket["id"], status))["errors"] == []
    final = await set_status(service, ticket["id"], "OPEN")
    assert final["errors"][0]["message"] == (
        "a CLOSED ticket cannot become OPEN; allowed: none: a closed ticket is final"
    )
    data = await service.data(
        "query ($id: ID!) { ticket(id: $id) { status version statusChanges { to } } }",
        {"id": ticket["id"]},
    )
    assert data["ticket"] == {
        "status": "CLOSED",
        "version": 3,
        "statusChanges": [{"to": "NEW"}, {"to": "RESOLVED"}, {"to": "CLOSED"}],
    }
    stale = await mutate(
        service,
        "updateTicket",
        {"id": ticket["id"], "expectedVersion": 1, "subject": "x"},
        "ticket { id }",
    )
    assert stale["errors"][0]["code"] == "CONFLICT"


async def test_every_input_problem_is_reported_at_once_and_nothing_is_written(
    service: GraphQLClient,
) -> None:
    payload = await mutate(
        service,
        "createTicket",
        {
            "customerId": "not-an-id",
            "subject": "  ",
            "assigneeId": "nobody",
            "teamId": "VGVhbTo5OTk=",
            "tags": ["x" * 60],
        },
        "ticket { id }",
    )
    assert payload["ticket"] is None
    assert sorted(tuple(e["field"]) for e in payload["errors"]) == [
        ("input", "assigneeId"),
        ("input", "customerId"),
        ("input", "subject"),
        ("input", "tags", "0"),
        ("input", "teamId"),
    ]
    gone = await new_customer(service, "Gone")
    await service.data(
        "mutation ($id: ID!) { deleteCustomer(input: {id: $id}) { errors { code } } }", {"id": gone}
    )
    refused = await mutate(
        service, "createTicket", {"customerId": gone, "subject": "Hi"}, "ticket { id }"
    )
    assert refused["errors"] == [
        {"code": "NOT_FOUND", "message": "no such customer", "field": ["input", "customerId"]}
    ]
    data = await service.data("{ tickets { totalCount } }")
    assert data["tickets"]["totalCount"] == 0


async def test_the_first_public_agent_reply_stops_the_first_response_clock(
    service: GraphQLClient,
) -> None:
    ticket = await new_ticket(service, await new_customer(service))
    noted = await reply(service, ticket["id"], "Looks like a carrier issue", public=False)
    assert noted["firstResponseAt"] is None and noted["status"] == "NEW"
    from_customer = await reply(service, ticket["id"], "Any news?", fromCustomer=True)
    assert from_customer["firstResponseAt"] is None
    answered = await reply(service, ticket["id"], "We are on it")
    assert answered["firstResponseAt"] is not None and answered["status"] == "OPEN"
    later = await reply(service, ticket["id"], "Shipped again")
    assert later["firstResponseAt"] == answered["firstResponseAt"]
    assert [(c["public"], c["fromCustomer"], c["author"]) for c in later["comments"]] == [
        (False, False, {"userId": TEST_USER}),
        (True, True, None),
        (True, False, {"userId": TEST_USER}),
        (True, False, {"userId": TEST_USER}),
    ]
    # A customer's reply reopens a ticket waiting on them, or a resolved one.
    for status in ("PENDING", "RESOLVED"):
        assert (await set_status(service, ticket["id"], status))["errors"] == []
        reopened = await reply(service, ticket["id"], "Still broken", fromCustomer=True)
        assert reopened["status"] == "OPEN"
        assert reopened["statusChanges"][-1]["actor"] is None
    await set_status(service, ticket["id"], "RESOLVED")
    await set_status(service, ticket["id"], "CLOSED")
    closed = await mutate(
        service, "addTicketComment", {"ticketId": ticket["id"], "body": "hello?"}, "comment { id }"
    )
    assert closed["errors"][0]["code"] == "TICKET_CLOSED"


async def test_interactions_of_the_same_customer_link_to_a_ticket(service: GraphQLClient) -> None:
    ada, bob = await new_customer(service), await new_customer(service, "Bob")
    ticket = await new_ticket(service, ada)

    async def interaction(customer: str) -> str:
        data = await service.data(
            "mutation ($c: ID!) { logInteraction(input: {customerId: $c, channel: PHONE, "
            'subject: "Called about the parcel"}) { interaction { id } errors { code } } }',
            {"c": customer},
        )
        return data["logInteraction"]["interaction"]["id"]

    call, other = await interaction(ada), await interaction(bob)
    linked = await ok(
        service,
        "linkTicketInteraction",
        {"ticketId": ticket["id"], "interactionId": call},
        "ticket { interactions { id subject } }",
    )
    assert linked["ticket"]["interactions"] == [{"id": call, "subject": "Called about the parcel"}]
    again = await mutate(
        service,
        "linkTicketInteraction",
        {"ticketId": ticket["id"], "interactionId": call},
        "ticket { id }",
    )
    assert again["errors"][0]["code"] == "DUPLICATE"
    foreign = await mutate(
        service,
        "linkTicketInteraction",
        {"ticketId": ticket["id"], "interactionId": other},
        "ticket { id }",
    )
    assert foreign["errors"] == [
        {
            "code": "CUSTOMER_MISMATCH",
            "message": "the interaction belongs to another customer than the ticket",
            "field": ["input", "interactionId"],
        }
    ]


async def test_tickets_filter_order_and_page_and_customers_show_theirs(
    service: GraphQLClient,
) -> None:
    ada, bob = await new_customer(service), await new_customer(service, "Bob")
    team = (await service.data('mutation { createTeam(input: {name: "Tier 2"}) { team { id } } }'))[
        "createTeam"
    ]["team"]["id"]
    low = await new_ticket(service, ada, priority="LOW", tags=["refund"])
    urgent = await new_ticket(service, ada, priority="URGENT", assigneeId=TEST_USER)
    queued = await new_ticket(service, bob, priority="HIGH", teamId=team)
    await set_status(service, low["id"], "RESOLVED")

    async def ids(filter: dict, order: dict | None = None, first: int = 10) -> list[str]:
        data = await service.data(
            "query ($f: TicketFilter, $o: TicketOrderBy, $n: Int) { tickets(filter: $f, "
            "orderBy: $o, first: $n) { totalCount nodes { id } } }",
            {"f": filter, "o": order, "n": first},
        )
        return [n["id"] for n in data["tickets"]["nodes"]]

    by_priority = {"field": "PRIORITY", "direction": "DESC"}
    assert await ids({}, by_priority) == [urgent["id"], queued["id"], low["id"]]
    assert await ids({}) == [queued["id"], urgent["id"], low["id"]]
    assert await ids({"statuses": ["NEW", "OPEN", "PENDING"]}, by_priority) == [
        urgent["id"],
        queued["id"],
    ]
    assert await ids({"assigneeId": TEST_USER}) == [urgent["id"]]
    assert await ids({"unassigned": True, "teamId": team}) == [queued["id"]]
    assert await ids({"customerId": bob}) == [queued["id"]]
    assert await ids({"tag": "refund"}) == [low["id"]]
    assert await ids(
        {"priorities": ["LOW", "URGENT"]}, {"field": "PRIORITY", "direction": "ASC"}
    ) == [
        low["id"],
        urgent["id"],
    ]
    assert await ids({"createdAfter": "2100-01-01T00:00:00Z"}) == []

    page = await service.data(
        "{ tickets(first: 2) { pageInfo { hasNextPage endCursor } nodes { id } } }"
    )
    rest = await service.data(
        "query ($after: String) { tickets(first: 2, after: $after) { nodes { id } } }",
        {"after": page["tickets"]["pageInfo"]["endCursor"]},
    )
    assert page["tickets"]["pageInfo"]["hasNextPage"] is True
    assert [n["id"] for n in page["tickets"]["nodes"] + rest["tickets"]["nodes"]] == await ids({})

    data = await service.data(
        "query ($ids: [ID!]!) { nodes(ids: $ids) { ... on Customer { "
        "tickets { id } openTickets { id priority } } } }",
        {"ids": [ada, bob]},
    )
    assert data["nodes"] == [
        {
            "tickets": [{"id": urgent["id"]}, {"id": low["id"]}],
            "openTickets": [{"id": urgent["id"], "priority": "URGENT"}],
        },
        {
            "tickets": [{"id": queued["id"]}],
            "openTickets": [{"id": queued["id"], "priority": "HIGH"}],
        },
    ]
    bad = await service.execute('{ tickets(filter: {customerId: "nope"}) { totalCount } }')
    assert bad["errors"][0]["extensions"]["field"] == "filter.customerId"


async def test_scopes_own_and_team_limit_tickets_to_the_callers_customers(
    settings: Settings,
) -> None:
    """A ticket belongs to its customer: ``own`` reaches the tickets of the caller's customers,
    ``team`` those of its teammates' customers, ``all`` every ticket, for reads and writes."""
    roles = {
        "agent": ["customers:read", "users:read", "tickets:read@own", "tickets:write@own"],
        "lead": ["customers:read", "users:read", "tickets:read@team", "tickets:write@team"],
        "viewer": ["customers:read", "tickets:read"],
    }
    settings = settings.model_copy(update={"roles": roles, "rate_limit_per_minute": 0})
    async with app_client(settings, plugins=[crm_service]) as admin:
        for user in ("ann", "ben", "cat"):
            await admin.acting_as("agent", user).data("{ viewer { userId } }")
        team = (
            await admin.data('mutation { createTeam(input: {name: "Billing"}) { team { id } } }')
        )["createTeam"]["team"]["id"]
        users = (await admin.data("{ users(first: 50) { nodes { id userId } } }"))["users"]
        user_ids = {n["userId"]: n["id"] for n in users["nodes"]}
        for user in ("ann", "ben"):
            added = await admin.data(
                "mutation ($t: ID!, $u: ID!) { addTeamMember(input: {teamId: $t, userId: $u})"
                " { errors { code } } }",
                {"t": team, "u": user_ids[user]},
            )
            assert added["addTeamMember"]["errors"] == []
        tickets, customers = {}, []
        for user in ("ann", "ben", "cat"):
            customer = await new_customer(admin, f"Customer of {user}")
            await admin.data(
                "mutation ($id: ID!, $o: String!) { assignCustomerOwner(input: "
                "{id: $id, ownerId: $o}) { errors { code } } }",
                {"id": customer, "o": user},
            )
            customers.append(customer)
            tickets[user] = (await new_ticket(admin, customer))["id"]

        async def seen(client: GraphQLClient) -> set[str]:
            data = await client.data(
                "query ($c: [ID!]!) { tickets { nodes { id } } "
                "nodes(ids: $c) { ... on Customer { tickets { id } } } }",
                {"c": customers},
            )
            listed = {n["id"] for n in data["tickets"]["nodes"]}
            assert listed == {t["id"] for n in data["nodes"] for t in n["tickets"]}
            return listed

        ann, ben_lead = admin.acting_as("agent", "ann"), admin.acting_as("lead", "ben")
        assert await seen(ann) == {tickets["ann"]}
        assert await seen(ben_lead) == {tickets["ann"], tickets["ben"]}
        assert await seen(admin.acting_as("viewer", "vic")) == set(tickets.values())
        lookup = "query ($id: ID!) { ticket(id: $id) { id } }"
        assert (await ann.data(lookup, {"id": tickets["cat"]}))["ticket"] is None

        assert (await set_status(ann, tickets["ann"], "OPEN"))["errors"] == []
        assert (await set_status(ben_lead, tickets["ann"], "PENDING"))["errors"] == []
        hidden = await set_status(ann, tickets["cat"], "OPEN")
        assert hidden["errors"] == [
            {"code": "NOT_FOUND", "message": "no such ticket", "field": ["input", "id"]}
        ]
        refused = await admin.acting_as("viewer", "vic").execute(
            "mutation ($id: ID!) { changeTicketStatus(input: {id: $id, status: OPEN}) "
            "{ errors { code } } }",
            {"id": tickets["cat"]},
        )
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_ticket_events_carry_the_ticket_and_no_free_text(service: GraphQLClient) -> None:
    ada = await new_customer(service)
    ticket = await new_ticket(service, ada, subject="My card 4111 was charged twice")
    await ok(
        service, "assignTicket", {"id": ticket["id"], "assigneeId": TEST_USER}, "ticket { id }"
    )
    await set_status(service, ticket["id"], "OPEN")
    found = await events_of(
        service, "ticket.created", "ticket.assigned", "ticket.status_changed", count=3
    )
    assert [e["type"] for e in found] == [
        "ticket.created",
        "ticket.assigned",
        "ticket.status_changed",
    ]
    assert all(e["entityType"] == "Ticket" and e["entityId"] == ticket["id"] for e in found)
    assert found[1]["payload"]["assigneeId"] == TEST_USER
    assert found[2]["payload"] == {
        "customerId": ada,
        "status": "OPEN",
        "priority": "NORMAL",
        "channel": "WEB",
        "assigneeId": TEST_USER,
        "teamId": None,
        "from": "NEW",
        "to": "OPEN",
    }
    assert "4111" not in str(found)
    types = await service.data("{ eventTypes { name owner } }")
    ours = {t["name"] for t in types["eventTypes"] if t["owner"] == "service"}
    assert {"ticket.created", "ticket.status_changed", "ticket.assigned"} <= ours


async def test_merge_moves_tickets_and_erasure_removes_the_customers_words(
    service: GraphQLClient,
) -> None:
    ada, dup = await new_customer(service), await new_customer(service, "Ada L.")
    kept = await new_ticket(service, ada)
    moved = await new_ticket(service, dup, description="I live at 1 Main St")
    await reply(service, moved["id"], "My phone is 555-0100", fromCustomer=True)
    merge = await service.data(
        "mutation ($s: ID!, $m: [ID!]!) { mergeCustomers(input: {survivorId: $s, mergedIds: $m})"
        " { plan { moves { owner kind count } } errors { code message } } }",
        {"s": ada, "m": [dup]},
    )
    assert merge["mergeCustomers"]["errors"] == []
    assert {"owner": "service", "kind": "service_tickets", "count": 1} in merge["mergeCustomers"][
        "plan"
    ]["moves"]
    data = await service.data(
        "query ($id: ID!) { customer(id: $id) { tickets { id } } }", {"id": ada}
    )
    assert {t["id"] for t in data["customer"]["tickets"]} == {kept["id"], moved["id"]}

    exported = await service.data("query ($id: ID!) { exportCustomerData(id: $id) }", {"id": ada})
    document = exported["exportCustomerData"]
    texts = str(document)
    assert "1 Main St" in texts and "555-0100" in texts

    erased = await service.data(
        "mutation ($id: ID!) { eraseCustomer(input: {id: $id}) { errors { code } } }", {"id": ada}
    )
    assert erased["eraseCustomer"]["errors"] == []
    after = await service.data(
        "query ($id: ID!) { ticket(id: $id) { subject description comments { body } } }",
        {"id": moved["id"]},
    )
    assert after["ticket"] == {
        "subject": "[erased]",
        "description": "[erased]",
        "comments": [{"body": "[erased]"}],
    }


SERVICE_QUERY = """{ customers(first: 8, orderBy: {field: CREATED_AT, direction: ASC}) {
  nodes { id openTicketCount tickets { id subject description status priority channel tags
    firstResponseAt customer { id name } assignee { userId name }
    statusChanges { from to actor { userId } } comments { body public author { userId } } }
    openTickets { id status } } }
  tickets(first: 5, orderBy: {field: PRIORITY, direction: DESC}) { totalCount nodes { id } } }"""
COUNTS_ONLY = "{ customers(first: 8) { nodes { id name openTicketCount } } }"


async def test_service_fields_answer_alike_on_both_read_paths_for_every_role(
    settings: Settings,
) -> None:
    """The compiled path serves ``openTicketCount`` itself; a query reading tickets falls back
    to strawberry; either way every role gets the same answer from both paths."""
    async with app_client(settings, plugins=[crm_service]) as compiled:
        await seed_demo(compiled.app.state.crm.engine, customers=8, seed=4)
        sales = compiled.acting_as("sales")
        owned = await new_customer(sales, "Owned By Sales", email="own@example.com")
        nodes = (await compiled.data(COUNTS_ONLY))["customers"]["nodes"]
        for index, node in enumerate([*nodes[:3], {"id": owned}]):
            ticket = await new_ticket(compiled, node["id"], priority="URGENT" if index else "LOW")
            await reply(compiled, ticket["id"], f"Reply {index}", public=bool(index % 2))
        plain = settings.model_copy(update={"compiled_reads": False})
        async with app_client(plain, plugins=[crm_service], migrate=False) as fallback:
            for role in ROLES:
                _, served = await same_answer(
                    compiled.acting_as(role), fallback.acting_as(role), COUNTS_ONLY, {}, role
                )
                # every role is compiled: marketing's forbidden openTicketCount is answered
                # with the same FORBIDDEN error the fallback gives.
                assert served == COMPILED, role
                await same_answer(
                    compiled.acting_as(role), fallback.acting_as(role), SERVICE_QUERY, {}, role
                )
