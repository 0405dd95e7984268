"""Events are checked per event: payloads follow the same read and personal-data rules as the
entities they describe, while every event still arrives so readers' cursors move on. Sockets
that share a selection (whose answers are executed once and shared) still each get their own
view."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from test_subscriptions import receive, start, websocket

from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client

ROLES = {
    "auditor": ["events:read", "customers:read"],  # no pii:read
    "watcher": ["events:read"],  # may not read customers at all
    "rep": ["events:read", "customers:read@own"],  # a stream is not filtered by owner
}
EVENTS = (
    '{ events(types: ["customer.created"]) { edges { cursor node { type entityId payload } } } }'
)


@pytest.fixture
async def admin(database_url: str) -> AsyncIterator[GraphQLClient]:
    settings = Settings(database_url=database_url, plugins=[], env="test", roles=ROLES)
    async with app_client(settings, plugins=[]) as graphql:
        created = await graphql.data(
            'mutation { createCustomer(input: {name: "Jane Roe", email: "jane@example.com", '
            'phone: "+14155552671"}) { customer { id } errors { code } } }'
        )
        assert created["createCustomer"]["errors"] == []
        for _ in range(250):  # events appear once sequenced (after commit on PostgreSQL)
            if (await graphql.data(EVENTS))["events"]["edges"]:
                break
            await asyncio.sleep(0.02)
        yield graphql


async def _only_event(client: GraphQLClient) -> dict:
    edges = (await client.data(EVENTS))["events"]["edges"]
    assert len(edges) == 1 and edges[0]["cursor"]
    return edges[0]["node"]


async def test_admin_sees_the_whole_payload(admin: GraphQLClient) -> None:
    entity = (await _only_event(admin))["payload"]["entity"]
    assert (entity["email"], entity["phone"], entity["name"]) == (
        "jane@example.com",
        "+14155552671",
        "Jane Roe",
    )


async def test_personal_data_is_masked_without_pii_read(admin: GraphQLClient) -> None:
    entity = (await _only_event(admin.acting_as("auditor")))["payload"]["entity"]
    assert entity["email"] == "j***@example.com"
    assert entity["phone"] == "+1********71"
    assert entity["name"] == "***"
    assert entity["lifecycleStage"] == "lead"  # not personal data: shown as is


@pytest.mark.parametrize("role", ["watcher", "rep"])
async def test_unreadable_entities_arrive_with_a_null_payload(
    admin: GraphQLClient, role: str
) -> None:
    event = await _only_event(admin.acting_as(role))
    assert event["type"] == "customer.created" and event["entityId"]
    assert event["payload"] is None


SHARED = """
subscription ($after: String, $types: [String!]) {
  events(after: $after, types: $types) { type entityId payload }
}
"""


async def test_sockets_sharing_a_selection_each_get_their_own_view(admin: GraphQLClient) -> None:
    after = (await admin.data(EVENTS))["events"]["edges"][0]["cursor"]
    subscribers = {
        "admin": (admin, SHARED, {"after": after}),
        "admin again": (admin, SHARED, {"after": after}),
        "auditor": (admin.acting_as("auditor"), SHARED, {"after": after}),
        "watcher": (admin.acting_as("watcher"), SHARED, {"after": after}),
        "other variables": (admin, SHARED, {"after": after, "types": ["customer.created"]}),
        "other selection": (
            admin,
            "subscription ($after: String) { events(after: $after) { kind: type payload } }",
            {"after": after},
        ),
    }
    async with AsyncExitStack() as stack:
        sockets = {}
        for name, (client, query, variables) in subscribers.items():
            sockets[name] = await stack.enter_async_context(websocket(client))
            await start(sockets[name], "1", query, variables)
        created = await admin.data(
            'mutation { createCustomer(input: {name: "John Doe", email: "john@example.com"}) '
            "{ customer { id } } }"
        )
        answers = {name: (await receive(ws, 1))[0] for name, ws in sockets.items()}

    full = answers["admin"]
    assert full["entityId"] == created["createCustomer"]["customer"]["id"]
    assert full["payload"]["entity"]["email"] == "john@example.com"
    assert answers["admin again"] == answers["other variables"] == full
    assert answers["auditor"]["payload"]["entity"]["email"] == "j***@example.com"
    assert answers["watcher"] == {**full, "payload": None}
    assert answers["other selection"] == {"kind": "customer.created", "payload": full["payload"]}
