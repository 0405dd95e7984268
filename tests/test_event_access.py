"""Events are checked per event: payloads follow the same read and personal-data rules as the
entities they describe, while every event still arrives so readers' cursors move on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

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
