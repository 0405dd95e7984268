"""The web form: a contact form posts to ``/p/service/forms/{token}`` (its own token, no API
key) and opens a ticket for the customer of the address, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

import crm_service
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from tests.service_support import ok

ANONYMOUS = {"Authorization": ""}
FORM = "form { id name url priority active team { name } }"
POST = {
    "name": "Ada Lovelace",
    "email": "Ada@Example.com",
    "subject": "My order is late",
    "description": "Ordered two weeks ago.",
}


async def make_form(client: GraphQLClient) -> dict:
    team = await client.data('mutation { createTeam(input: {name: "Web"}) { team { id } } }')
    team_id = team["createTeam"]["team"]["id"]
    input = {"name": "Contact us", "priority": "HIGH", "teamId": team_id}
    return (await ok(client, "createWebForm", input, FORM))["form"]


async def post(client: GraphQLClient, url: str, body: object) -> tuple[int, dict]:
    answer = await client.http.post(url, json=body, headers=ANONYMOUS)
    return answer.status_code, answer.json()


async def test_a_form_post_opens_a_ticket_for_the_customer_of_the_address(
    settings: Settings,
) -> None:
    async with app_client(settings, plugins=[crm_service]) as client:
        form = await make_form(client)
        assert form["url"].startswith("/p/service/forms/") and form["active"] is True

        status, body = await post(client, form["url"], POST)
        assert status == 201
        ticket = body["ticketId"]
        data = await client.data(
            "query ($id: ID!) { ticket(id: $id) { subject description channel priority status "
            "team { name } customer { id name email } } }",
            {"id": ticket},
        )
        opened = data["ticket"]
        assert opened["channel"] == "WEB" and opened["priority"] == "HIGH"
        assert opened["team"] == {"name": "Web"} and opened["status"] == "NEW"
        assert opened["customer"]["email"] == "ada@example.com"

        again = {**POST, "email": "ADA@example.com", "subject": "Also: wrong size"}
        status, body = await post(client, form["url"], again)
        assert status == 201
        data = await client.data(
            "query ($id: ID!) { ticket(id: $id) { customer { id } } }", {"id": body["ticketId"]}
        )
        assert data["ticket"]["customer"]["id"] == opened["customer"]["id"]

        status, body = await post(client, form["url"], {"name": "Bob", "subject": " "})
        assert status == 400
        assert [e["extensions"]["field"] for e in body["errors"]] == [["email"]]
        status, body = await post(
            client, form["url"], {"name": "Bob", "email": "bob@example.com", "subject": ""}
        )
        assert status == 400
        assert [e["extensions"]["field"] for e in body["errors"]] == [["subject"]]
        counted = await client.data("{ tickets { totalCount } customers { totalCount } }")
        assert counted == {"tickets": {"totalCount": 2}, "customers": {"totalCount": 1}}

        forged = form["url"][:-4] + "abcd"
        assert (await post(client, forged, POST))[0] == 400
        closed = await ok(client, "closeWebForm", {"id": form["id"]}, FORM)
        assert closed["form"]["active"] is False
        status, body = await post(client, form["url"], POST)
        assert status == 410 and body["errors"][0]["extensions"]["code"] == "FORM_CLOSED"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_form_is_rate_limited_per_client_address(settings: Settings) -> None:
    async with app_client(
        settings.model_copy(update={"rate_limit_per_minute": 60, "rate_limit_burst": 2}),
        plugins=[crm_service],
    ) as client:
        form = await make_form(client)
        answers = [(await post(client, form["url"], POST))[0] for _ in range(3)]
    assert answers == [201, 201, 429]
