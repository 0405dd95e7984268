"""The loyalty plugin's subscription over a real WebSocket to a real uvicorn process."""

from __future__ import annotations

import asyncio

import httpx

from crm_graph.db.migrate import upgrade
from crm_graph.settings import Settings
from crm_graph.testing import auth_headers, running_server, subscribe
from crm_graph.web.app import create_app

WATCH = """
subscription ($id: ID!) {
  loyaltyPointsChanged(customerId: $id) { points tier { name } customer { name } }
}
"""
AWARD = """
mutation ($id: ID!, $points: Int!) {
  awardLoyaltyPoints(input: {customerId: $id, points: $points, reason: "visit"}) {
    errors { code }
  }
}
"""


async def migrate(url: str) -> None:
    app = create_app(Settings(database_url=url, plugins=["loyalty"], env="test"))
    await upgrade(app.state.crm.engine, app.state.crm.plugins)
    await app.state.crm.engine.dispose()


async def post(http: httpx.AsyncClient, query: str, variables: dict) -> dict:
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


async def test_points_changes_arrive_over_a_websocket_and_unknown_customers_fail(
    database_url: str,
) -> None:
    await migrate(database_url)
    env = {
        "CRM_DATABASE_URL": database_url,
        "CRM_PLUGINS": "loyalty",
        "CRM_PLUGIN_LOYALTY_POLL_INTERVAL": "0.05",
    }
    with running_server(env) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10, headers=auth_headers()) as http:
            created = await post(
                http, 'mutation { createCustomer(input: {name: "Ada"}) { customer { id } } }', {}
            )
            ada = created["createCustomer"]["customer"]["id"]
            events = subscribe(url, WATCH, {"id": ada})
            try:
                first = await asyncio.wait_for(anext(events), 10)
                assert first["data"]["loyaltyPointsChanged"] == {
                    "points": 0,
                    "tier": None,
                    "customer": {"name": "Ada"},
                }
                for points, total, tier in [(150, 150, "bronze"), (400, 550, "silver")]:
                    award = await post(http, AWARD, {"id": ada, "points": points})
                    assert award["awardLoyaltyPoints"]["errors"] == []
                    change = await asyncio.wait_for(anext(events), 10)
                    assert change["data"]["loyaltyPointsChanged"] == {
                        "points": total,
                        "tier": {"name": tier},
                        "customer": {"name": "Ada"},
                    }
            finally:
                await events.aclose()

        unknown = subscribe(url, WATCH, {"id": "Q3VzdG9tZXI6OTk"})  # Customer:99
        try:
            result = await asyncio.wait_for(anext(unknown), 10)
        finally:
            await unknown.aclose()
        assert [(e["message"], e["extensions"]["code"]) for e in result["errors"]] == [
            ("no such customer", "NOT_FOUND")
        ]
