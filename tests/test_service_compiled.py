"""The service plugin's fields on the compiled read path: every ticket field reached from a
customer (tickets, open tickets and their count; a ticket's customer, assignee, team, status
history, comments, linked interactions, survey and SLA with its policy and calendar) is served
compiled, for every role, with the same response strawberry gives (data, errors, masked
personal data), on SQLite and PostgreSQL.

Two apps share one seeded database: the compiled one (the default) and one with
``compiled_reads=False``; the ``Server-Timing`` header says which path answered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

import crm_service
from crm_graph.demo import seed_demo
from crm_graph.settings import Settings
from crm_graph.testing import TEST_USER, GraphQLClient, app_client
from tests.service_support import new_customer, new_ticket, ok, reply, set_status
from tests.test_compiled_reads import COMPILED, FALLBACK, ROLES, _normal, _post

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday, within business hours

TICKET = """id subject description channel priority status tags createdAt updatedAt
  firstResponseAt resolvedAt closedAt version allowedStatuses __typename"""

QUERIES = [
    f"""{{ customers(first: 30) {{ nodes {{ id name openTicketCount
         tickets {{ {TICKET} customer {{ id name email }} assignee {{ userId name }}
           team {{ id name }} }} }} }} }}""",
    """{ customers(first: 30) { nodes { id openTickets { id subject
         statusChanges { from to at actor { userId } }
         comments { id body public fromCustomer createdAt author { userId } } } } } }""",
    """{ customers(first: 30) { nodes { tickets { id interactions { id channel direction occurredAt }
         survey { id kind rating comment sentAt expiresAt respondedAt link
           customer { id name } } } } } }""",
    """{ customers(first: 30) { nodes { tickets { id sla { firstResponseDueAt resolutionDueAt
         firstResponseBreached resolutionBreached remaining paused state
         policy { id name isDefault targets { priority firstResponseMinutes resolutionMinutes }
           calendar { id name timeZone hours { day hours } holidays } } } } } } }""",
    """query ($open: Boolean!) { customers(last: 12, orderBy: {field: NAME, direction: ASC}) {
         edges { node { ...Desk } } }
       }
       fragment Desk on Customer {
         count: openTicketCount
         mine: openTickets @include(if: $open) { __typename id description }
         all: tickets { ... on Ticket { id priority sla { state } } subject }
       }""",
]


class Clock:
    def __init__(self) -> None:
        self.moment = NOW

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """The plugin's clock stands still: SLA states and survey links do not move between the
    two paths' answers."""
    fake = Clock()
    monkeypatch.setattr(crm_service.clock, "now", fake.now)
    yield fake


@pytest.fixture
async def desks(
    settings: Settings, clock: Clock
) -> AsyncIterator[tuple[GraphQLClient, GraphQLClient]]:
    async with app_client(settings, plugins=[crm_service]) as compiled:
        await seed_demo(compiled.app.state.crm.engine, customers=9, seed=11)
        await _seed(compiled, clock)
        plain = settings.model_copy(update={"compiled_reads": False})
        async with app_client(plain, plugins=[crm_service], migrate=False) as fallback:
            yield compiled, fallback


async def _seed(client: GraphQLClient, clock: Clock) -> None:
    """A calendar and default policy, a team, and tickets of every kind: assigned and queued,
    replied to in public, internally and by the customer, paused, resolved with an answered
    survey, reopened, linked to an interaction; some of customers the sales user owns."""
    hours = [{"day": day, "hours": ["09:00-17:00"]} for day in ("MONDAY", "TUESDAY", "FRIDAY")]
    calendar = await ok(
        client,
        "createBusinessCalendar",
        {"name": "Desk", "timeZone": "Europe/Berlin", "hours": hours, "holidays": ["2026-12-24"]},
        "calendar { id }",
    )
    targets = [
        {"priority": "URGENT", "firstResponseMinutes": 60, "resolutionMinutes": 240},
        {"priority": "NORMAL", "firstResponseMinutes": 480},
    ]
    input = {"name": "Standard", "calendarId": calendar["calendar"]["id"], "targets": targets}
    await ok(client, "createSlaPolicy", {**input, "isDefault": True}, "policy { id }")
    team = await client.data('mutation { createTeam(input: {name: "Tier 2"}) { team { id } } }')
    team_id = team["createTeam"]["team"]["id"]
    sales = client.acting_as("sales")
    owned = [await new_customer(sales, name, email=f"{name}@example.com") for name in ("Ann", "Bo")]
    others = (await client.data("{ customers(first: 8) { nodes { id } } }"))["customers"]
    customers = [*owned, *[n["id"] for n in others["nodes"] if n["id"] not in owned][:6]]
    for index, customer in enumerate(customers):
        ticket = await new_ticket(
            client,
            customer,
            subject=f"Parcel {index} lost",
            description=f"Ordered on the {index + 1}st, still waiting",
            priority=("URGENT", "NORMAL", "LOW")[index % 3],
            tags=["vip", "refund"][: index % 3],
            assigneeId=TEST_USER if index % 2 else None,
            teamId=team_id if index % 3 == 1 else None,
        )
        clock.moment = NOW.replace(hour=11 + index % 4)
        await reply(client, ticket["id"], f"On it ({index})", public=index % 4 != 3)
        if index % 4 == 2:
            await reply(client, ticket["id"], "Still nothing", fromCustomer=True)
        if index % 3 == 2:
            assert not (await set_status(client, ticket["id"], "PENDING"))["errors"]
        if index % 2:
            assert not (await set_status(client, ticket["id"], "RESOLVED"))["errors"]
            if index % 4 == 1:
                await _answer_survey(client, ticket["id"], index)
            if index == 3:
                assert not (await set_status(client, ticket["id"], "OPEN"))["errors"]
        if index == 0:
            await _link_interaction(client, customer, ticket["id"])
    clock.moment = NOW.replace(hour=16)


async def _answer_survey(client: GraphQLClient, ticket: str, index: int) -> None:
    found = await client.data(
        "query ($id: ID!) { ticket(id: $id) { survey { link } } }", {"id": ticket}
    )
    link = found["ticket"]["survey"]["link"]
    body = {"rating": 1 + index % 5, "comment": f"Slow, but kind ({index})"}
    response = await client.http.post(link, json=body, headers={"Authorization": ""})
    assert response.status_code == 200, response.text


async def _link_interaction(client: GraphQLClient, customer: str, ticket: str) -> None:
    logged = await client.data(
        "mutation ($c: ID!) { logInteraction(input: {customerId: $c, channel: PHONE, "
        'subject: "Called about the parcel"}) { interaction { id } } }',
        {"c": customer},
    )
    interaction = logged["logInteraction"]["interaction"]["id"]
    await ok(
        client,
        "linkTicketInteraction",
        {"ticketId": ticket, "interactionId": interaction},
        "ticket { id }",
    )


async def test_ticket_fields_are_served_compiled_alike_for_every_role(desks: Any) -> None:
    compiled, fallback = desks
    seen: dict[str, Any] = {}
    for role in ROLES:
        for query in QUERIES:
            variables = {"open": True}
            body, served = await _post(compiled.acting_as(role), query, variables)
            expected, other = await _post(fallback.acting_as(role), query, variables)
            assert other == FALLBACK
            assert _normal(body) == _normal(expected), (role, query)
            assert served == COMPILED, (role, query)
            seen[role, query] = body
    # The answers hold what the seed made, as each role may see it.
    first, sla = QUERIES[0], QUERIES[3]
    admin = [t for c in seen["admin", first]["data"]["customers"]["nodes"] for t in c["tickets"]]
    assert len(admin) == 8 and {t["status"] for t in admin} >= {"OPEN", "PENDING", "RESOLVED"}
    assert "Parcel 0 lost" in {t["subject"] for t in admin}
    masked = [t for c in seen["analyst", first]["data"]["customers"]["nodes"] for t in c["tickets"]]
    assert len(masked) == 8 and {t["subject"] for t in masked} == {"***"}
    own = [t for c in seen["sales", first]["data"]["customers"]["nodes"] for t in c["tickets"]]
    assert sorted(t["subject"] for t in own) == ["Parcel 0 lost", "Parcel 1 lost"]
    denied = seen["marketing", first]
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    slas = [
        t["sla"] for c in seen["admin", sla]["data"]["customers"]["nodes"] for t in c["tickets"]
    ]
    assert {s["policy"]["name"] for s in slas} == {"Standard"}
    assert {s["state"] for s in slas} >= {"MET", "PAUSED"}
    surveys = [
        t["survey"]
        for c in seen["service", QUERIES[2]]["data"]["customers"]["nodes"]
        for t in c["tickets"]
        if t["survey"]
    ]
    assert {s["comment"] for s in surveys if s["comment"]} == {
        "Slow, but kind (1)",
        "Slow, but kind (5)",
    }
    assert any(s["link"] for s in surveys) and any(not s["link"] for s in surveys)


LIST = """totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  nodes { id subject status priority customer { id name } sla { state } }"""

TICKET_LISTS = [
    (
        f"""{{ tickets(first: 5, filter: {{statuses: [NEW, OPEN, PENDING]}},
             orderBy: {{field: PRIORITY, direction: DESC}}) {{ {LIST} }} }}""",
        {},
    ),
    (
        f"""query ($p: [TicketPriority!]) {{ tickets(filter: {{priorities: $p}},
             orderBy: {{field: CREATED_AT, direction: ASC}}) {{ {LIST} }} }}""",
        {"p": ["URGENT", "NORMAL"]},
    ),
    (
        f"""query ($s: [TicketStatus!], $p: [TicketPriority!]) {{ tickets(last: 3,
             filter: {{statuses: $s, priorities: $p}}) {{ {LIST} }} }}""",
        {"s": ["OPEN", "RESOLVED"], "p": ["LOW", "NORMAL", "URGENT"]},
    ),
    *(
        (
            f"""query ($s: SlaState) {{ tickets(filter: {{slaState: $s}},
                 orderBy: {{field: UPDATED_AT, direction: DESC}}) {{ {LIST} }} }}""",
            {"s": state},
        )
        for state in ("BREACHED", "AT_RISK", "ON_TRACK", "MET")
    ),
    # The customer of each linked interaction: a core reference inside a batch value.
    (
        """{ tickets(first: 10) { nodes { id interactions { id channel
             customer { id name email lifecycleStage } } } } }""",
        {},
    ),
]


async def test_the_tickets_list_is_served_compiled_alike_for_every_role(
    desks: Any, clock: Clock
) -> None:
    """tickets(filter:, orderBy:) with status, priority and SLA state filters: the same answer
    on both paths, compiled, for every role; the sales role sees its customers' tickets only;
    the SLA states move with the plugin's clock through one compiled statement; the customers
    of the tickets' linked interactions are read in one more statement, masked without
    pii:read."""
    compiled, fallback = desks
    seen: dict[Any, Any] = {}
    for moment in (NOW.replace(hour=16), NOW.replace(day=27, hour=9), NOW.replace(day=30)):
        clock.moment = moment
        for role in ROLES:
            for index, (query, variables) in enumerate(TICKET_LISTS):
                body, served = await _post(compiled.acting_as(role), query, variables)
                expected, other = await _post(fallback.acting_as(role), query, variables)
                assert other == FALLBACK
                assert _normal(body) == _normal(expected), (role, query, variables)
                assert served == COMPILED, (role, query, variables)
                seen[moment.day, role, index] = body
    admin = seen[25, "admin", 1]["data"]["tickets"]
    assert admin["totalCount"] == 6
    assert {n["priority"] for n in admin["nodes"]} == {"URGENT", "NORMAL"}
    opened = seen[25, "service", 0]["data"]["tickets"]
    assert opened["pageInfo"]["hasNextPage"] is (opened["totalCount"] > 5)
    assert [n["priority"] for n in opened["nodes"]] == sorted(
        (n["priority"] for n in opened["nodes"]), key=("LOW", "NORMAL", "HIGH", "URGENT").index
    )[::-1]
    own = seen[25, "sales", 1]["data"]["tickets"]["nodes"]
    assert sorted(n["subject"] for n in own) == ["Parcel 0 lost", "Parcel 1 lost"]
    assert seen[25, "marketing", 0]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert {n["subject"] for n in seen[25, "analyst", 1]["data"]["tickets"]["nodes"]} == {"***"}
    # The same compiled statements read each request's time from the plugin's clock: the
    # three tickets with a running target are on track, then one is within the warning lead
    # time, then all are breached (MET matches no ticket here).
    counts = {
        day: [len(seen[day, "admin", 3 + i]["data"]["tickets"]["nodes"]) for i in range(4)]
        for day in (25, 27, 30)
    }
    assert counts == {25: [0, 0, 3, 0], 27: [0, 1, 2, 0], 30: [3, 0, 0, 0]}
    linked = [
        i["customer"]
        for t in seen[25, "admin", 7]["data"]["tickets"]["nodes"]
        for i in t["interactions"]
    ]
    assert linked and all(c["name"] for c in linked)
