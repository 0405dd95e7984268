"""Test helpers for crm-graph and for plugin authors.

``app_client`` gives an in-process app (migrated, chosen plugins) with a GraphQL client over
HTTP; ``running_server`` starts a real uvicorn process and ``subscribe`` speaks the
graphql-transport-ws protocol to it over a real WebSocket.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import websockets
from sqlalchemy import event
from starlette.applications import Starlette

from crm_graph.app import create_app
from crm_graph.db.migrate import upgrade
from crm_graph.settings import Settings


class GraphQLClient:
    """Posts GraphQL documents to an app and returns the decoded JSON response."""

    def __init__(self, http: httpx.AsyncClient, app: Starlette) -> None:
        self.http = http
        self.app = app

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a response that must have no errors (fails loudly otherwise)."""
        result = await self.execute(query, variables)
        assert not result.get("errors"), result["errors"]
        return result["data"]


@asynccontextmanager
async def app_client(
    settings: Settings, plugins: Iterable[Any] | None = None, migrate: bool = True
) -> AsyncIterator[GraphQLClient]:
    """An app with the chosen plugins, its database migrated, and a client for it."""
    app = create_app(settings, plugins)
    if migrate:
        await upgrade(app.state.crm.engine, app.state.crm.plugins)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http, app)


@contextmanager
def count_statements(app: Starlette) -> Iterator[list[str]]:
    """Collect every SQL statement the app's engine runs inside the block."""
    statements: list[str] = []
    engine = app.state.crm.engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(env: dict[str, str], workers: int = 1, timeout: float = 30.0) -> Iterator[str]:
    """A real ``crm-graph serve`` process on a free loopback port; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crm_graph",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise RuntimeError(f"server exited with {process.returncode}:\n{output}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"server did not answer on {url} within {timeout}s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def subscribe(
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Yield each ``next`` payload of a subscription over graphql-transport-ws."""
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if ack["type"] != "connection_ack":
            raise RuntimeError(f"expected connection_ack, got {ack}")
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables or {}},
                }
            )
        )
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "next":
                yield message["payload"]
            elif message["type"] == "error":
                raise RuntimeError(f"subscription error: {message['payload']}")
            elif message["type"] == "complete":
                return
