"""The tier-upgrade e-mail: queued in the award's unit of work, received by a real SMTP server
(on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr

import crm_loyalty
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, smtp_server

AWARD = """
mutation ($customerId: ID!, $points: Int!) {
  awardLoyaltyPoints(input: {customerId: $customerId, points: $points, reason: "order"}) {
    errors { code field }
  }
}
"""
SENT = '{ outboundEmails(status: SENT, tag: "tier-bronze") { totalCount } }'


async def award(client: GraphQLClient, customer: str, points: int) -> list:
    variables = {"customerId": customer, "points": points}
    return (await client.data(AWARD, variables))["awardLoyaltyPoints"]["errors"]


async def test_reaching_a_tier_sends_a_congratulation(
    loyalty_settings: Settings, monkeypatch
) -> None:
    monkeypatch.setenv("CRM_PLUGIN_LOYALTY_EMAIL_FROM", "Loyalty <club@shop.example>")
    with smtp_server() as (inbox, port):
        settings = loyalty_settings.model_copy(
            update={"smtp_url": SecretStr(f"smtp://127.0.0.1:{port}"), "smtp_poll_seconds": 0.25}
        )
        async with app_client(settings, plugins=[crm_loyalty]) as client:
            made = await client.data(
                'mutation { createCustomer(input: {name: "Ada <3", email: "ada@example.com"})'
                " { customer { id } } }"
            )
            ada = made["createCustomer"]["customer"]["id"]
            assert await award(client, ada, 50) == []  # below bronze: no e-mail
            assert await award(client, ada, 60) == []  # 110: bronze
            assert await award(client, ada, 10) == []  # still bronze: no second e-mail
            refused = await award(client, ada, 10**9)  # refused: nothing queued either
            assert refused == [{"code": "TOO_LARGE", "field": ["input", "points"]}]
            for _ in range(200):
                if (await client.data(SENT))["outboundEmails"]["totalCount"]:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)  # time enough for a wrong second message to arrive
    [message] = inbox.received
    assert message["To"] == "ada@example.com" and message["Subject"] == "Welcome to bronze"
    assert message["From"] == "Loyalty <club@shop.example>"
    text, html = (part.get_payload(decode=True).decode() for part in message.get_payload())
    assert text.strip() == "Hello Ada <3, you have reached the bronze tier."
    assert "Hello Ada &lt;3," in html
