"""``Idempotency-Key`` on mutations: Stripe's rules, per credential, on both databases.

The same key and body replay the first response (one write); another body is refused
(``IDEMPOTENCY_KEY_REUSED``, 422); a request still running answers 409; keys expire after
24 hours; queries ignore the header. The dropped-connection retry against a real server is in
test_idempotency_live.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import strawberry
from sqlalchemy import func, select, update

from crm_graph.auth.declare import AUTHENTICATED, requires
from crm_graph.db.models import Customer, IdempotencyKey, utcnow
from crm_graph.plugin import PluginMetadata, SchemaContribution, hookimpl
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client

CREATE = (
    "mutation ($name: String!) { createCustomer(input: {name: $name}) "
    "{ customer { id name } errors { code } } }"
)


async def post(
    client: GraphQLClient, body: dict[str, Any], key: str | None, **headers: str
) -> httpx.Response:
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.http.post("/graphql", json=body, headers={**client.headers, **headers})


def create(name: str) -> dict[str, Any]:
    return {"query": CREATE, "variables": {"name": name}}


async def customers(client: GraphQLClient) -> int:
    async with client.app.state.crm.read() as session:
        return (await session.execute(select(func.count()).select_from(Customer))).scalar_one()


async def test_the_same_key_and_body_replay_the_first_response_and_write_once(
    client: GraphQLClient,
) -> None:
    first = await post(client, create("Ada"), "order-1")
    again = await post(client, create("Ada"), "order-1")
    assert first.status_code == again.status_code == 200
    assert first.json()["data"]["createCustomer"]["errors"] == []
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await customers(client) == 1
    # Key order and spacing do not make it another request.
    reordered = {"variables": {"name": "Ada"}, "query": CREATE}
    assert (await post(client, reordered, "order-1")).content == first.content


async def test_the_same_key_with_another_body_is_refused_and_writes_nothing(
    client: GraphQLClient,
) -> None:
    await post(client, create("Ada"), "order-1")
    refused = await post(client, create("Grace"), "order-1")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await customers(client) == 1


async def test_keys_belong_to_the_credential_that_sent_them(client: GraphQLClient) -> None:
    mine = await post(client, create("Ada"), "k")
    theirs = await post(client.acting_as("admin", "someone-else"), create("Ada"), "k")
    assert theirs.status_code == 200
    assert "idempotent-replayed" not in theirs.headers
    assert (
        theirs.json()["data"]["createCustomer"]["customer"]["id"]
        != (mine.json()["data"]["createCustomer"]["customer"]["id"])
    )
    assert await customers(client) == 2


async def test_queries_ignore_the_header(client: GraphQLClient) -> None:
    await post(client, create("Ada"), "k")
    for query in ("{ customers { totalCount } }", "query Q { customers { totalCount } }"):
        answer = await post(client, {"query": query}, "k")
        assert answer.status_code == 200
        assert answer.json() == {"data": {"customers": {"totalCount": 1}}}
    # The operation run decides, not the document: a query picked from a document with a
    # mutation in it is a query.
    named = CREATE.replace("mutation (", "mutation M(")
    both = {"query": f"query Q {{ customers {{ totalCount }} }} {named}", "operationName": "Q"}
    assert (await post(client, both, "k")).json() == {"data": {"customers": {"totalCount": 1}}}


async def test_a_key_expires_after_24_hours(client: GraphQLClient) -> None:
    await post(client, create("Ada"), "k")
    await post(client.acting_as("admin", "other"), create("Bob"), "k2")
    async with client.app.state.crm.write() as session:
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "k")
            .values(created_at=utcnow() - timedelta(hours=24, seconds=1))
        )
    reused = await post(client, create("Grace"), "k")
    assert reused.status_code == 200
    assert reused.json()["data"]["createCustomer"]["customer"]["name"] == "Grace"
    assert await customers(client) == 3
    async with client.app.state.crm.read() as session:
        rows = (await session.execute(select(IdempotencyKey))).scalars().all()
    assert sorted((row.key, row.created_at > utcnow() - timedelta(hours=1)) for row in rows) == [
        ("k", True),
        ("k2", True),
    ]


async def test_an_invalid_key_is_refused(client: GraphQLClient) -> None:
    for key in ("", "x" * 256, "tab\there"):
        refused = await post(client, create("Ada"), key)
        assert refused.status_code == 400, key
        assert refused.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_INVALID"
    assert await customers(client) == 0


class Held:
    """A plugin whose ``hold`` mutation waits until the test lets it finish."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.runs = 0

    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="held", version="1.0", requires_core=">=0.1")

    @hookimpl
    def crm_schema(self) -> SchemaContribution:
        plugin = self

        @strawberry.type
        class HoldMutation:
            @strawberry.mutation(metadata=requires(AUTHENTICATED))
            async def hold(self) -> int:
                plugin.runs += 1
                plugin.started.set()
                await plugin.release.wait()
                return plugin.runs

        return SchemaContribution(extend={"Mutation": [HoldMutation]})


async def test_a_request_still_in_flight_gets_409_and_is_not_run_twice(
    settings: Settings,
) -> None:
    held = Held()
    async with app_client(settings, plugins=[held]) as client:
        body = {"query": "mutation { hold }"}
        first = asyncio.create_task(post(client, body, "k"))
        await asyncio.wait_for(held.started.wait(), 10)
        busy = await post(client, body, "k")
        assert busy.status_code == 409
        assert busy.json()["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_IN_PROGRESS"
        held.release.set()
        assert (await first).json() == {"data": {"hold": 1}}
        replayed = await post(client, body, "k")
        assert replayed.json() == {"data": {"hold": 1}}
        assert held.runs == 1
