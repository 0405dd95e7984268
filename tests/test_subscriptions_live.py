"""Nothing lost, against real uvicorn processes over real WebSockets.

A subscriber follows the log while a writer commits; its server is SIGKILLed midway and
restarted; the subscriber resumes from its last cursor and ends with exactly the committed
events, in order. On PostgreSQL, a second server process delivers what the first commits, and
an event whose notification never came still arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from test_events import read_all
from websockets.exceptions import ConnectionClosed

from crm_graph.domain.customers import create_customer
from crm_graph.settings import Settings
from crm_graph.testing import app_client, auth_headers, server_process, subscribe

EVENTS = "subscription ($after: String) { events(after: $after) { id cursor type } }"
CREATE = "mutation ($n: String!) { createCustomer(input: {name: $n}) { errors { code } } }"
WRITES = 2000  # the figure
WRITERS = 4


def server_env(database_url: str) -> dict[str, str]:
    return {
        "CRM_DATABASE_URL": database_url,
        "CRM_PLUGINS": "",
        "CRM_ENV": "test",
        "CRM_EVENT_POLL_INTERVAL_SECONDS": "0.1",
        "CRM_EVENT_SAFETY_POLL_SECONDS": "0.1",
        "CRM_RATE_LIMIT_PER_MINUTE": "0",
    }


async def follow(url: str, after: str | None, into: list[dict[str, Any]]) -> None:
    """Append every event of the subscription to ``into`` until the connection ends."""
    with contextlib.suppress(OSError, RuntimeError, ConnectionClosed):
        async for payload in subscribe(url, EVENTS, {"after": after}):
            into.append(payload["data"]["events"])


async def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_a_subscriber_resumes_after_sigkill_with_exactly_the_committed_events(
    database_url: str,
) -> None:
    settings = Settings(database_url=database_url, plugins=[], env="test", rate_limit_per_minute=0)
    async with app_client(settings, plugins=[]) as writer:
        start = (await writer.data("{ eventStream { oldestCursor } }"))["eventStream"]
        written = 0

        async def write(worker: int) -> None:
            """Commits through the domain layer (the unit of work a mutation runs), so 2,000
            changes take seconds, not the minute GraphQL round trips would."""
            nonlocal written
            for i in range(worker, WRITES, WRITERS):
                async with writer.app.state.crm.write() as session:
                    await create_customer(session, {"name": f"C{i}"}, "US")
                written += 1

        received: list[dict[str, Any]] = []
        with server_process(server_env(database_url)) as (url, process):
            listening = asyncio.create_task(follow(url, start["oldestCursor"], received))
            writing = asyncio.gather(*(write(w) for w in range(WRITERS)))
            await wait_until(lambda: len(received) >= WRITES // 3, 60, "the first third")
            process.kill()  # SIGKILL: no shutdown, no goodbye to the subscriber
            process.wait()
            await asyncio.wait_for(listening, 10)
        killed_at = len(received)
        assert killed_at < WRITES
        with server_process(server_env(database_url)) as (url, _process):
            listening = asyncio.create_task(follow(url, received[-1]["cursor"], received))
            await writing
            await wait_until(lambda: len(received) >= WRITES, 60, "every event")
            await asyncio.sleep(0.2)  # anything extra would arrive now
            listening.cancel()
        committed = await read_all(writer)
        assert written == WRITES == len(committed)
        assert [e["id"] for e in received] == [e["id"] for e in committed]
        assert len({e["id"] for e in received}) == WRITES
        assert all(e["type"] == "customer.created" for e in received)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_server_processes_deliver_every_event_even_without_a_notification(
    database_url: str,
) -> None:
    settings = Settings(database_url=database_url, plugins=[], env="test", rate_limit_per_minute=0)
    async with app_client(settings, plugins=[]) as local:
        latest = (await local.data("{ eventStream { latestCursor } }"))["eventStream"]
        received: list[dict[str, Any]] = []
        with (
            server_process(server_env(database_url)) as (reader_url, _reader),
            server_process(server_env(database_url)) as (writer_url, _writer),
        ):
            listening = asyncio.create_task(follow(reader_url, latest["latestCursor"], received))
            async with httpx.AsyncClient(
                base_url=writer_url, timeout=10, headers=auth_headers()
            ) as http:
                for i in range(100):
                    response = await http.post(
                        "/graphql", json={"query": CREATE, "variables": {"n": f"P{i}"}}
                    )
                    assert response.json()["data"]["createCustomer"]["errors"] == []
            # A writer that died right after COMMIT, before any NOTIFY or sequencing:
            orphan = await _insert_without_notification(database_url)
            await wait_until(lambda: len(received) >= 101, 30, "all 101 events")
            listening.cancel()
        committed = await read_all(local)
        assert [e["id"] for e in received] == [e["id"] for e in committed]
        assert received[-1]["id"] == orphan


async def _insert_without_notification(database_url: str) -> str:
    uid = str(uuid.uuid4())
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "INSERT INTO event_log (uid, type, payload, occurred_at) "
            "VALUES ($1, 'test.orphan', '{}', now())",
            uid,
        )
    finally:
        await connection.close()
    return uid


OPERATIONS = ("1", "2", "3", "4")
EVENTS_WHILE_STALLED = 300


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_a_subscriber_that_stops_reading_resumes_without_loss(database_url: str) -> None:
    """The client stops reading (a tiny socket buffer, nothing received) while large events
    pile up on four subscriptions: the server's memory stays far below what those messages
    would take if it queued them; when the client reads again, each subscription has every
    event, in order. (The overflow of a subscriber's buffer into a catch-up from the log is
    pinned down deterministically in test_subscriptions.)"""
    settings = Settings(database_url=database_url, plugins=[], env="test", rate_limit_per_minute=0)
    big = {f"k{i}": "x" * 150 for i in range(90)}  # ~14 KB per event
    env = {**server_env(database_url), "CRM_EVENT_SUBSCRIBER_BUFFER": "8"}
    async with app_client(settings, plugins=[]) as writer:
        start = (await writer.data("{ eventStream { latestCursor } }"))["eventStream"]
        with server_process(env) as (url, process):
            ws_url = url.replace("http://", "ws://") + "/graphql"
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # no kernel slack
            sock.connect(("127.0.0.1", int(url.rsplit(":", 1)[1])))
            async with websockets.connect(
                ws_url, subprotocols=["graphql-transport-ws"], max_queue=4, sock=sock
            ) as ws:
                # Offered by the client (as browsers do) but declined: answers are shared as
                # encoded once, not compressed again per socket.
                assert "sec-websocket-extensions" not in ws.response.headers
                init = {"Authorization": auth_headers()["Authorization"]}
                await ws.send(json.dumps({"type": "connection_init", "payload": init}))
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                query = "subscription ($a: String) { events(after: $a) { id payload } }"
                subscribe_message = {"query": query, "variables": {"a": start["latestCursor"]}}
                for op in OPERATIONS:  # more bytes per event: the kernel buffers fill sooner
                    await ws.send(
                        json.dumps({"id": op, "type": "subscribe", "payload": subscribe_message})
                    )
                await asyncio.sleep(0.5)  # subscribed, and the server at rest
                before = resident_bytes(process.pid)
                for i in range(EVENTS_WHILE_STALLED):  # written while the client reads nothing
                    await writer.data(
                        'mutation ($a: JSON) { createCustomer(input: {name: "S", attributes: $a})'
                        " { errors { code } } }",
                        {"a": {**big, "n": i}},
                    )
                await asyncio.sleep(1)  # the server has read them all from the log
                grown = resident_bytes(process.pid) - before
                queued = EVENTS_WHILE_STALLED * len(OPERATIONS) * len(json.dumps(big))
                assert grown < queued / 2, f"server grew {grown} bytes; {queued} were pending"
                ids: dict[str, list[str]] = {op: [] for op in OPERATIONS}
                while sum(map(len, ids.values())) < EVENTS_WHILE_STALLED * len(OPERATIONS):
                    message = json.loads(await asyncio.wait_for(ws.recv(), 20))
                    ids[message["id"]].append(message["payload"]["data"]["events"]["id"])
        committed = [e["id"] for e in await read_all(writer, after=start["latestCursor"])]
        assert len(committed) == EVENTS_WHILE_STALLED
        assert all(received == committed for received in ids.values())


SHARED = "subscription { events { id type payload } }"
LISTENERS = 5
GROUP_WRITES = 60


async def test_sockets_on_one_selection_are_served_together_and_a_leaver_costs_nothing(
    database_url: str,
) -> None:
    """``crm-graph serve`` writes one execution's answer to every idle socket of the same
    selection and grants. Every listener gets every event in order; a socket that leaves
    midway, and one with narrower grants (its own answers: masked personal data), change
    nothing for the others."""
    settings = Settings(database_url=database_url, plugins=[], env="test", rate_limit_per_minute=0)
    async with app_client(settings, plugins=[]) as writer:
        received: dict[str, list[dict[str, Any]]] = {
            name: [] for name in [*map(str, range(LISTENERS)), "leaver", "auditor"]
        }

        async def listen(url: str, name: str) -> None:
            grants = auth_headers("auditor" if name == "auditor" else "admin")
            async for payload in subscribe(url, SHARED, payload=grants):
                received[name].append(payload["data"]["events"])
                if name == "leaver" and len(received[name]) == 10:
                    return  # closes the socket

        auditor = {"CRM_ROLES": json.dumps({"auditor": ["events:read", "customers:read"]})}
        with server_process({**server_env(database_url), **auditor}) as (url, _process):
            listeners = [asyncio.create_task(listen(url, name)) for name in received]
            await asyncio.sleep(1)  # every subscription is live and idle
            for i in range(GROUP_WRITES):
                async with writer.app.state.crm.write() as session:
                    await create_customer(session, {"name": f"G{i}", "email": f"g{i}@x.io"}, "US")
                if i % 10 == 9:
                    await asyncio.sleep(0.1)  # several batches, each served to idle sockets
            everyone = [name for name in received if name != "leaver"]
            await wait_until(
                lambda: all(len(received[n]) >= GROUP_WRITES for n in everyone), 30, "all events"
            )
            await asyncio.sleep(0.2)  # anything extra would arrive now
            for task in listeners:
                task.cancel()
        committed = await read_all(writer)
        ids = [e["id"] for e in committed]
        for name in everyone:
            assert [e["id"] for e in received[name]] == ids, name
        assert [e["id"] for e in received["leaver"]] == ids[:10]
        assert received["0"][0]["payload"]["entity"]["email"] == "g0@x.io"
        assert received["auditor"][0]["payload"]["entity"]["email"] == "g***@x.io"
