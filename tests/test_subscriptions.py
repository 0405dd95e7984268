"""``Subscription.events`` and ``customerChanged`` over graphql-transport-ws (in process).

Replay then live with no gap and no duplicate, heartbeats for narrow filters, a burst larger
than a subscriber's buffer caught up from the log, and no task left behind when a client goes
away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from test_events import fast, mutate, wait_for_events

from crm_graph.domain.customers import create_customer
from crm_graph.events.hub import EventFilter
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client

EVENTS = """
subscription ($after: String, $types: [String!]) {
  events(after: $after, types: $types) { id cursor type entityId payload }
}
"""
CUSTOMER_CHANGED = """
subscription ($id: ID!) { customerChanged(id: $id) { id cursor type entityId payload } }
"""


@asynccontextmanager
async def websocket(client: GraphQLClient) -> AsyncIterator[AsyncWebSocketSession]:
    transport = ASGIWebSocketTransport(app=client.app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
        aconnect_ws("/graphql", http, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        credentials = {
            "Authorization": client.headers.get("Authorization")
            or client.http.headers["Authorization"]
        }
        await ws.send_json({"type": "connection_init", "payload": credentials})
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        yield ws


async def start(ws: AsyncWebSocketSession, op: str, query: str, variables: dict) -> None:
    await ws.send_json(
        {"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables}}
    )


async def receive(ws: AsyncWebSocketSession, count: int, timeout: float = 10) -> list[dict]:
    """The next ``count`` events (any operation), failing on errors."""
    out: list[dict] = []
    while len(out) < count:
        message = await ws.receive_json(timeout=timeout)
        assert message["type"] == "next", message
        assert not message["payload"].get("errors"), message
        out.append(next(iter(message["payload"]["data"].values())))
    return out


async def test_replay_switches_to_live_without_gap_or_duplicate(settings: Settings) -> None:
    async with app_client(fast(settings), plugins=[]) as client:
        for i in range(5):
            await mutate(client, "createCustomer", {"name": f"Before {i}"}, "customer")
        stored = await wait_for_events(client, 5)

        async def writer() -> None:
            for i in range(25):
                await mutate(client, "createCustomer", {"name": f"During {i}"}, "customer")

        async with websocket(client) as ws:
            await start(ws, "1", EVENTS, {"after": stored[1]["cursor"]})
            writing = asyncio.create_task(writer())  # races with the replay
            received = await receive(ws, 3 + 25)
            await writing
        everything = await wait_for_events(client, 30)
        assert [e["id"] for e in received] == [e["id"] for e in everything[2:]]
        assert [e["cursor"] for e in received] == [e["cursor"] for e in everything[2:]]


async def test_narrow_filters_get_heartbeats_and_customer_changed_sees_only_its_customer(
    settings: Settings,
) -> None:
    async with app_client(fast(settings, event_heartbeat_seconds=0.3), plugins=[]) as client:
        ada = await mutate(client, "createCustomer", {"name": "Ada"}, "customer")
        bob = await mutate(client, "createCustomer", {"name": "Bob"}, "customer")
        await wait_for_events(client, 2)
        async with websocket(client) as ws:
            await start(ws, "orders", EVENTS, {"types": ["order.placed"]})
            await start(ws, "ada", CUSTOMER_CHANGED, {"id": ada["id"]})
            await asyncio.sleep(0.1)  # both subscriptions are live before the changes
            await mutate(client, "updateCustomer", {"id": bob["id"], "name": "Bobby"}, "customer")
            await mutate(client, "updateCustomer", {"id": ada["id"], "name": "Ada L"}, "customer")
            stored = await wait_for_events(client, 4)
            messages: list[dict] = []
            while not (
                any(m["type"] == "customer.updated" for m in messages)
                and any(
                    m["type"] == "heartbeat" and m["cursor"] == stored[-1]["cursor"]
                    for m in messages
                )
            ):
                messages += await receive(ws, 1)
        assert {m["type"] for m in messages} == {"customer.updated", "heartbeat"}, messages
        [update] = [m for m in messages if m["type"] == "customer.updated"]
        assert update["entityId"] == ada["id"] and update["payload"]["changedFields"] == ["name"]
        heartbeats = [m for m in messages if m["type"] == "heartbeat"]
        assert heartbeats[-1]["cursor"] == stored[-1]["cursor"]  # moved past Bob's update
        assert heartbeats[0]["payload"] == {}


async def test_a_bad_cursor_is_a_coded_subscription_error(client: GraphQLClient) -> None:
    async with websocket(client) as ws:
        await start(ws, "1", EVENTS, {"after": "garbage"})
        message = await ws.receive_json(timeout=5)
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "INVALID_CURSOR"


def _running_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if not t.done()}


async def test_disconnecting_subscribers_leave_no_tasks_behind(settings: Settings) -> None:
    async with app_client(fast(settings), plugins=[]) as client:
        await asyncio.sleep(0.1)
        before = _running_tasks()
        for _ in range(3):
            async with websocket(client) as ws:
                await start(ws, "1", EVENTS, {})
                await start(ws, "2", EVENTS, {"types": ["order.placed"]})
                await mutate(client, "createCustomer", {"name": "Ada"}, "customer")
                assert (await receive(ws, 1))[0]["type"] == "customer.created"
            assert len(client.app.state.crm.events.hub.subscribers) <= 2
        for _ in range(100):
            leftover = _running_tasks() - before
            if not leftover and not client.app.state.crm.events.hub.subscribers:
                break
            await asyncio.sleep(0.02)
        assert not leftover, leftover
        assert not client.app.state.crm.events.hub.subscribers


async def test_a_burst_larger_than_the_buffer_is_caught_up_from_the_log(settings: Settings) -> None:
    """30 events committed at once reach the tail as one batch, far more than the
    subscriber's buffer of 2 holds: the subscriber drops out of the fan-out and reads them
    from the log instead, then follows live events again, in order and without loss."""
    async with app_client(fast(settings, event_subscriber_buffer=2), plugins=[]) as client:
        app = client.app.state.crm
        async with websocket(client) as ws:
            await start(ws, "1", EVENTS, {})
            await asyncio.sleep(0.1)
            async with app.write() as session:
                for i in range(30):
                    await create_customer(session, {"name": f"Burst {i}"}, "US")
            await mutate(client, "createCustomer", {"name": "After"}, "customer")
            received = await receive(ws, 31)
        stored = await wait_for_events(client, 31)
        assert [e["id"] for e in received] == [e["id"] for e in stored]


async def test_a_narrow_filter_gets_heartbeats_while_unwanted_events_keep_coming(
    settings: Settings,
) -> None:
    """Its cursor moves even when the log never goes quiet."""
    async with app_client(fast(settings, event_heartbeat_seconds=0.3), plugins=[]) as client:
        async with websocket(client) as ws:
            await start(ws, "orders", EVENTS, {"types": ["order.placed"]})
            await asyncio.sleep(0.1)

            async def writer() -> None:
                for i in range(40):
                    await mutate(client, "createCustomer", {"name": f"N{i}"}, "customer")
                    await asyncio.sleep(0.03)

            [idle] = await receive(ws, 1)  # the log is quiet: a heartbeat at its end
            writing = asyncio.create_task(writer())
            beat = idle
            while beat["cursor"] == idle["cursor"]:  # until the first events are in
                [beat] = await receive(ws, 1)
            assert not writing.done()  # the heartbeat came while events were still written
            await writing
        assert beat["type"] == "heartbeat"
        stored = await wait_for_events(client, 40)
        assert beat["cursor"] in [e["cursor"] for e in stored]


async def test_a_leader_stuck_on_its_socket_hands_its_group_over(settings: Settings) -> None:
    """Idle subscribers of one selection are served as a group: one leads (its consumer
    executes each event) and the others' answers are written by their ``send_now``. When the
    leader's consumer stops taking events (a socket that does not drain), the others go on by
    themselves within a pass or two of the tail, with every event in order."""
    async with app_client(fast(settings), plugins=[]) as client:
        hub = client.app.state.crm.events.hub
        received: dict[int, list[str]] = {i: [] for i in range(4)}
        stuck: list[int] = []

        def send_now(i: int) -> Any:
            return lambda row: received[i].append(row.uid) is None  # written at once

        async def consume(i: int) -> None:
            async for row in hub.stream(None, EventFilter(), "one selection", send_now(i)):
                received[i].append(row.uid)
                if not stuck:  # the first to execute an event is the leader: it gets stuck
                    stuck.append(i)
                    await asyncio.Event().wait()

        consumers = [asyncio.create_task(consume(i)) for i in range(4)]
        await asyncio.sleep(0.2)  # every subscriber is parked at the head
        for n in range(5):
            await mutate(client, "createCustomer", {"name": f"S{n}"}, "customer")
        ids = [e["id"] for e in await wait_for_events(client, 5)]
        others = [i for i in received if i not in stuck]
        for _ in range(100):
            if all(len(received[i]) >= 5 for i in others):
                break
            await asyncio.sleep(0.05)
        for task in consumers:
            task.cancel()
        await asyncio.gather(*consumers, return_exceptions=True)
        assert stuck and received[stuck[0]] == ids[:1]
        assert all(received[i] == ids for i in others), received
        assert not hub.subscribers
