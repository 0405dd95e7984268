"""The request path around a compiled read is lean: one connection, at most one transaction,
the credential checked in one statement on that connection, and revocation seen at once."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import asyncpg
import httpx
import orjson

from crm_graph.db.migrate import upgrade
from crm_graph.demo import seed_demo
from crm_graph.settings import Settings
from crm_graph.testing import (
    GraphQLClient,
    app_client,
    auth_headers,
    database_use,
    running_server,
    server_process,
)
from crm_graph.web.app import create_app
from tests.helpers import beyond_authentication

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from nested_query import QUERY as NESTED_PAGE


def bearer(credential: str) -> dict[str, str]:
    return {"authorization": f"Bearer {credential}"}


SMALL_PAGE = "{ customers(first: 20) { nodes { id name email } } }"
CREATE_KEY = """mutation ($name: String!) { createApiKey(input: {name: $name, role: "readonly"})
  { key apiKey { id } errors { code } } }"""


async def _key(client: GraphQLClient, name: str) -> str:
    made = await client.data(CREATE_KEY, {"name": name})
    assert made["createApiKey"]["errors"] == []
    return made["createApiKey"]["key"]


async def test_a_page_takes_one_connection_one_transaction_and_one_credential_statement(
    settings: Settings,
) -> None:
    async with app_client(settings, plugins=[]) as client:
        await seed_demo(client.app.state.crm.engine, customers=8, seed=3)
        key = await _key(client, "reader")
        headers = bearer(key)
        for query, most in ((SMALL_PAGE, 1), (NESTED_PAGE, 5)):
            for _ in range(2):  # the first request of a key notes its use (a write)
                with database_use(client.app) as use:
                    response = await client.http.post(
                        "/graphql", json={"query": query}, headers=headers
                    )
                assert response.status_code == 200 and "errors" not in response.json()
                assert response.headers["server-timing"] == 'plan;desc="compiled"'
            credential = [s for s in use.statements if s not in beyond_authentication([s])]
            assert len(credential) == 1, credential
            assert len(beyond_authentication(use.statements)) <= most
            assert use.connections == 1 and use.transactions <= 1, (query, use)


async def _migrated(url: str) -> None:
    app = create_app(Settings(database_url=url, plugins=[], env="test"))
    await upgrade(app.state.crm.engine, app.state.crm.plugins)
    await app.state.crm.engine.dispose()


async def test_a_key_revoked_through_one_server_is_refused_by_another_at_once(
    database_url: str,
) -> None:
    await _migrated(database_url)
    env = {"CRM_DATABASE_URL": database_url, "CRM_PLUGINS": "", "CRM_ENV": "test"}
    with running_server(env, timeout=120) as first, running_server(env, timeout=120) as second:
        async with httpx.AsyncClient(timeout=30) as http:

            async def post(
                url: str, query: str, credential: str | None = None, **variables: str
            ) -> httpx.Response:
                headers = auth_headers() if credential is None else bearer(credential)
                body = {"query": query, "variables": variables}
                return await http.post(f"{url}/graphql", json=body, headers=headers)

            made = (await post(first, CREATE_KEY, name="shared")).json()["data"]
            key, key_id = made["createApiKey"]["key"], made["createApiKey"]["apiKey"]["id"]
            for _ in range(3):  # the second server has checked (and could have kept) the key
                assert (await post(second, SMALL_PAGE, key)).status_code == 200
            revoke = "mutation ($id: ID!) { revokeApiKey(input: {id: $id}) { apiKey { id } } }"
            assert (await post(first, revoke, id=key_id)).json()["data"]["revokeApiKey"]["apiKey"]
            refused = await post(second, SMALL_PAGE, key)
            assert refused.status_code == 401
            assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


STATEMENT = re.compile(
    r"sqlalchemy\.engine\.Engine (SELECT|INSERT|UPDATE|DELETE|WITH|BEGIN|COMMIT|ROLLBACK)\b"
)


async def test_an_idle_server_does_not_poll_the_database(database_url: str, tmp_path: Path) -> None:
    """Every statement the server's engine sends is logged (CRM_SQL_ECHO); once started, an
    idle server sends none for seconds on PostgreSQL (notifications wake its readers), and on
    SQLite only its poll of the log's tail for other processes' events (once a second)."""
    await _migrated(database_url)
    env = {"CRM_DATABASE_URL": database_url, "CRM_PLUGINS": "", "CRM_SQL_ECHO": "true"}
    log = tmp_path / "server.log"
    with server_process(env, timeout=120, log=log):
        await asyncio.sleep(3)  # startup's own reads and the loops' first runs
        before = len(STATEMENT.findall(log.read_text()))
        await asyncio.sleep(5)
        idle = STATEMENT.findall(log.read_text())[before:]
    statements = [s for s in idle if s not in ("BEGIN", "COMMIT", "ROLLBACK")]
    if "postgresql" in database_url:
        assert idle == []
    else:
        assert set(statements) <= {"SELECT"} and len(statements) <= 6, idle


async def test_the_access_log_writes_a_line_per_request_unless_turned_off(
    database_url: str, tmp_path: Path
) -> None:
    await _migrated(database_url)
    for setting, expected in (("true", 1), ("false", 0)):
        env = {"CRM_DATABASE_URL": database_url, "CRM_PLUGINS": "", "CRM_ACCESS_LOG": setting}
        log = tmp_path / f"server-{setting}.log"
        with server_process(env, timeout=120, log=log) as (url, _process):
            async with httpx.AsyncClient(base_url=url) as http:
                assert (await http.get("/healthz?from=test")).status_code == 200
            await asyncio.sleep(0.5)
            lines = [ln for ln in log.read_text().splitlines() if "GET /healthz?from=test" in ln]
        assert len(lines) == expected, (setting, lines)


async def _response(
    reader: asyncio.StreamReader, head_only: bool = False
) -> tuple[str, dict, bytes]:
    """One HTTP/1.1 response off the connection: status line, headers, body."""
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)).decode("latin-1")
    status, *lines = head.split("\r\n")[:-2]
    headers = dict(line.lower().split(": ", 1) for line in lines)
    length = 0 if head_only else int(headers["content-length"])
    return status, headers, await asyncio.wait_for(reader.readexactly(length), 30)


async def test_responses_are_whole_on_kept_alive_pipelined_and_closing_connections(
    database_url: str,
) -> None:
    """crm-graph serve sends a response's head with its body (one write): pipelined requests
    on one connection each get their whole answer in order, a head without a body (HEAD)
    still leaves at once, and a closing connection gets its whole answer before the close."""
    await _migrated(database_url)
    env = {"CRM_DATABASE_URL": database_url, "CRM_PLUGINS": "", "CRM_ENV": "test"}
    with server_process(env, timeout=120) as (url, _process):
        host, port = url.removeprefix("http://").split(":")
        body = orjson.dumps({"query": SMALL_PAGE})
        authorization = auth_headers()["Authorization"]
        page = (
            f"POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        health = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(page + health + b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + page)
        answers = [
            await _response(reader),
            await _response(reader),
            await _response(reader, head_only=True),
            await _response(reader),
        ]
        writer.write(health.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        closing = await _response(reader)
        assert await asyncio.wait_for(reader.read(), 30) == b""  # and then the server closed
        writer.close()
    for status, headers, answer in (answers[0], answers[3]):
        assert status == "HTTP/1.1 200 OK", (status, answer)
        assert headers["server-timing"] == 'plan;desc="compiled"'
        assert len(orjson.loads(answer)["data"]["customers"]["nodes"]) == 0
    for status, _headers, answer in (answers[1], closing):
        assert status == "HTTP/1.1 200 OK" and orjson.loads(answer)["status"] == "ok"
    assert answers[2][0] == "HTTP/1.1 200 OK" and answers[2][2] == b""
    assert closing[1]["connection"] == "close"


async def test_a_connection_the_database_dropped_fails_one_request_and_is_replaced(
    settings: Settings,
) -> None:
    """The credential is checked on the driver connection, past SQLAlchemy: a pooled
    connection the server has dropped (a restart, an administrator) still fails one request
    only, and is replaced with every connection as old as it, as SQLAlchemy does."""
    async with app_client(settings, plugins=[]) as client:
        headers = bearer(await _key(client, "reader"))

        async def status() -> int | str:
            try:
                response = await client.http.post(
                    "/graphql", json={"query": SMALL_PAGE}, headers=headers
                )
            except Exception as exc:  # the in-process transport raises the app's error
                return type(exc).__name__
            return response.status_code

        assert [await status() for _ in range(3)] == [200, 200, 200]
        if "postgresql" in settings.database_url:
            admin = await asyncpg.connect(
                settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
            )
            try:
                dropped = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            finally:
                await admin.close()
            assert dropped >= 1
        after = [await status() for _ in range(4)]
    assert after[1:] == [200, 200, 200], after
