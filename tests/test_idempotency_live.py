"""A retry after a dropped connection writes once, against a real uvicorn process.

The client sends ``createCustomer`` with an ``Idempotency-Key`` over a raw socket and closes
it without reading the answer, then retries with the same key: however the retry meets the
first request (still running: 409, retried; finished: replayed), there is exactly one new
customer and the retry's answer names it. Another body with the key is refused.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from test_subscriptions_live import server_env

from crm_graph.db.models import Customer
from crm_graph.ids import to_global_id
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client, auth_headers, server_process

CREATE = (
    "mutation ($name: String!) { createCustomer(input: {name: $name}) "
    "{ customer { id name } errors { code } } }"
)


async def send_and_drop(url: str, body: bytes, key: str, until: Any = None) -> None:
    """POST ``body`` on a raw connection and close it unread (after ``until()`` holds)."""
    parts = urlsplit(url)
    _reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = [
        "POST /graphql HTTP/1.1",
        f"Host: {parts.netloc}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"Idempotency-Key: {key}",
        *(f"{name}: {value}" for name, value in auth_headers().items()),
    ]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
    if until is not None:
        for _ in range(500):
            if await until():
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the dropped request never committed")
    writer.transport.abort()  # a reset, not a polite close: the answer is never read


async def retry(url: str, body: bytes, key: str) -> httpx.Response:
    """Send again with the same key until the first attempt is no longer in flight."""
    headers = {**auth_headers(), "Content-Type": "application/json", "Idempotency-Key": key}
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        for _ in range(200):
            answer = await http.post("/graphql", content=body, headers=headers)
            if answer.status_code != 409:
                return answer
            await asyncio.sleep(0.05)
    raise AssertionError("the key stayed in progress")


async def named(client: GraphQLClient, name: str) -> list[int]:
    async with client.app.state.crm.read() as session:
        found = await session.execute(select(Customer.id).where(Customer.name == name))
        return list(found.scalars())


async def test_a_retry_after_a_dropped_connection_writes_once_and_gets_the_answer(
    database_url: str,
) -> None:
    settings = Settings(database_url=database_url, plugins=[], env="test")
    async with app_client(settings, plugins=[]) as client:
        with server_process(server_env(database_url)) as (url, _process):
            for name, wait in (("Committed before the drop", True), ("Dropped at once", False)):
                body = json.dumps({"query": CREATE, "variables": {"name": name}}).encode()
                key = f"key-{name}"

                async def committed(name: str = name) -> bool:
                    return bool(await named(client, name))

                await send_and_drop(url, body, key, committed if wait else None)
                answer = await retry(url, body, key)
                assert answer.status_code == 200
                payload = answer.json()["data"]["createCustomer"]
                assert payload["errors"] == []
                ids = await named(client, name)
                assert [to_global_id("Customer", pk) for pk in ids] == [payload["customer"]["id"]]
                if wait:  # the first attempt finished: this is its answer, replayed
                    assert answer.headers["idempotent-replayed"] == "true"
                again = await retry(url, body, key)
                assert again.headers["idempotent-replayed"] == "true"
                assert again.content == answer.content

                other = json.dumps({"query": CREATE, "variables": {"name": "Other"}}).encode()
                refused = await retry(url, other, key)
                assert refused.status_code == 422
                assert refused.json()["errors"][0]["extensions"]["code"] == (
                    "IDEMPOTENCY_KEY_REUSED"
                )
                assert await named(client, "Other") == []
                assert len(await named(client, name)) == 1
