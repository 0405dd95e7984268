"""Test helpers for crm-graph and for plugin authors.

``app_client`` gives an in-process app (migrated, chosen plugins) with a GraphQL client over
HTTP; ``run_cli`` runs a ``crm-graph`` command against a database; ``running_server`` starts a real uvicorn process and ``subscribe`` speaks the
graphql-transport-ws protocol to it over a real WebSocket; ``smtp_server`` is a real SMTP
server (aiosmtpd) to point ``CRM_SMTP_URL`` at.
"""

from __future__ import annotations

import asyncio
import contextvars
import email
import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import websockets
from pydantic import SecretStr
from sqlalchemy import event
from starlette.applications import Starlette
from typer.testing import CliRunner, Result

from crm_graph.auth.tokens import issue_token
from crm_graph.cli import app as cli_app
from crm_graph.db.migrate import upgrade
from crm_graph.events.webhooks.targets import Resolve
from crm_graph.settings import Settings
from crm_graph.web.app import create_app

POSTGRES_ADMIN_URL = os.environ.get(
    "CRM_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@asynccontextmanager
async def temporary_database(kind: str, directory: Path) -> AsyncIterator[str]:
    """The URL of a fresh, empty database, gone afterwards: ``"sqlite"`` (a file in
    ``directory``) or ``"postgresql"`` (created through ``CRM_TEST_POSTGRES_ADMIN_URL``)."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / f'crm_{uuid.uuid4().hex[:12]}.db'}"
        return
    if kind != "postgresql":
        raise ValueError(f"unknown database kind {kind!r}; use 'sqlite' or 'postgresql'")
    name = f"crm_test_{uuid.uuid4().hex[:12]}"
    await _postgres_admin(f'CREATE DATABASE "{name}"')
    try:
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        yield f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    finally:
        await _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _postgres_admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


# Signs the tokens of test clients and servers (each test process has its own).
TEST_JWT_SECRET = secrets.token_urlsafe(32)
TEST_USER = "test-admin"
# Signs the link tokens of test apps and servers (CRM_SECRET_KEY, required in production).
TEST_SECRET_KEY = secrets.token_urlsafe(32)


def admin_token(
    role: str = "admin", user_id: str = TEST_USER, secret: str = TEST_JWT_SECRET
) -> str:
    """A bearer token for ``role`` that apps and servers started by these helpers accept."""
    return issue_token(Settings(jwt_secret=SecretStr(secret)), user_id, role)


def auth_headers(role: str = "admin", user_id: str = TEST_USER) -> dict[str, str]:
    """``Authorization`` header for raw HTTP calls to :func:`running_server`."""
    return {"Authorization": f"Bearer {admin_token(role, user_id)}"}


class GraphQLClient:
    """Posts GraphQL documents to an app and returns the decoded JSON response.

    Its ``http`` client sends the credentials of the role :func:`app_client` was given;
    :meth:`acting_as` gives a client for the same app acting as another role and user.
    """

    def __init__(
        self, http: httpx.AsyncClient, app: Starlette, headers: dict[str, str] | None = None
    ) -> None:
        self.http = http
        self.app = app
        self.headers = headers or {}

    def acting_as(self, role: str, user_id: str = TEST_USER) -> GraphQLClient:
        secret = self.app.state.crm.settings.jwt_secret.get_secret_value()
        token = admin_token(role, user_id, secret)
        return GraphQLClient(self.http, self.app, {"Authorization": f"Bearer {token}"})

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={**self.headers, **headers},
        )
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a response that must have no errors (fails loudly otherwise)."""
        result = await self.execute(query, variables)
        assert not result.get("errors"), result["errors"]
        return result["data"]


@asynccontextmanager
async def app_client(
    settings: Settings,
    plugins: Iterable[Any] | None = None,
    migrate: bool = True,
    role: str | None = "admin",
    user_id: str = TEST_USER,
    resolve: Resolve | None = None,
) -> AsyncIterator[GraphQLClient]:
    """An app with the chosen plugins, its database migrated, and a client for it.

    ``resolve`` (``async (host, port) -> [addresses]``) answers the app's webhook target
    look-ups instead of the system's resolver, e.g. to make a name point at a loopback
    receiver.

    The client authenticates with a token of ``role`` for ``user_id`` (``role=None``: no
    credentials); the app gets a generated ``jwt_secret`` and ``secret_key`` when the
    settings have none, and no
    rate limits unless the settings set ``rate_limit_per_minute`` or
    ``auth_failures_per_minute``.
    """
    if settings.jwt_secret is None:
        settings = settings.model_copy(update={"jwt_secret": SecretStr(TEST_JWT_SECRET)})
    if settings.secret_key is None:
        settings = settings.model_copy(update={"secret_key": SecretStr(TEST_SECRET_KEY)})
    for limit in ("rate_limit_per_minute", "auth_failures_per_minute"):
        if limit not in settings.model_fields_set:
            settings = settings.model_copy(update={limit: 0})
    app = create_app(settings, plugins, resolve)
    if migrate:
        await upgrade(app.state.crm.engine, app.state.crm.plugins)
    headers = {}
    if role is not None:
        secret = settings.jwt_secret.get_secret_value()  # type: ignore[union-attr]
        headers["Authorization"] = f"Bearer {admin_token(role, user_id, secret)}"
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as http:
            yield GraphQLClient(http, app)


_counting: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "crm_graph_counting", default=None
)


async def run_cli(database_url: str, *args: str, plugins: str = "") -> Result:
    """Run ``crm-graph ARGS`` against ``database_url`` with the plugins ``plugins`` names
    (``CRM_PLUGINS``: comma separated, empty for none); its output and exit code.

    In a thread, because the command runs its own event loop (``asyncio.run``).
    """
    env = {"CRM_DATABASE_URL": database_url, "CRM_PLUGINS": plugins}
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, cli_app, list(args), env=env, catch_exceptions=False
    )


@contextmanager
def count_statements(app: Starlette) -> Iterator[list[str]]:
    """Collect every SQL statement the app's engine runs for the code inside the block.

    Only statements issued from the block's own context (and the tasks it starts, such as
    DataLoader batches) count; the app's background loops (event tail, sequencer) started
    earlier and poll on their own schedule, so counting them would make counts flaky.
    """
    statements: list[str] = []
    engine = app.state.crm.engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if _counting.get() is not statements:
            return
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    token = _counting.set(statements)
    try:
        yield statements
    finally:
        _counting.reset(token)
        event.remove(engine, "before_cursor_execute", record)


@dataclass
class DatabaseUse:
    """What the code inside :func:`database_use` asked of the database: its statements
    (as :func:`count_statements` counts them), the pooled connections it checked out and the
    transactions it began (an implicit ``BEGIN`` included)."""

    statements: list[str] = field(default_factory=list)
    connections: int = 0
    transactions: int = 0


@contextmanager
def database_use(app: Starlette) -> Iterator[DatabaseUse]:
    """Like :func:`count_statements`, also counting connections and transactions: a lean
    request takes one connection and at most one transaction."""
    engine = app.state.crm.engine.sync_engine
    with count_statements(app) as statements:
        use = DatabaseUse(statements)

        def checkout(*_args: Any) -> None:
            if _counting.get() is statements:
                use.connections += 1

        def begin(*_args: Any) -> None:
            if _counting.get() is statements:
                use.transactions += 1

        event.listen(engine.pool, "checkout", checkout)
        event.listen(engine, "begin", begin)
        try:
            yield use
        finally:
            event.remove(engine.pool, "checkout", checkout)
            event.remove(engine, "begin", begin)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SMTP_DROP = "drop"


@dataclass
class SmtpInbox:
    """What a test SMTP server received, and how it answers the next messages' data: each
    entry of ``answers`` is a reply (``"451 4.3.0 later"``, ``"550 5.1.1 unknown"``) or
    ``SMTP_DROP`` (close the connection without a reply); then ``250 OK``."""

    received: list[Message] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    data_seen: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_seen += 1
        answer = self.answers.pop(0) if self.answers else "250 OK"
        if answer == SMTP_DROP:  # the data arrived; the reply never will
            server.transport.close()
            return "250 OK"
        if answer.startswith("250"):
            self.received.append(email.message_from_bytes(envelope.content))
        return answer

    def by_subject(self, subject: str) -> list[Message]:
        return [m for m in self.received if m["Subject"] == subject]


@contextmanager
def smtp_server(
    tls_context: ssl.SSLContext | None = None, login: tuple[str, str] | None = None
) -> Iterator[tuple[SmtpInbox, int]]:
    """A real SMTP server (aiosmtpd, a dev dependency) on a free port of 127.0.0.1: yields its
    inbox and port. With ``tls_context`` it requires STARTTLS; with ``login`` (user,
    password) it requires authentication."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    def authenticate(_server: Any, _session: Any, _envelope: Any, _mech: str, data: Any) -> Any:
        given = (data.login.decode(), data.password.decode())
        return AuthResult(success=given == login, handled=False)

    inbox, port = SmtpInbox(), free_port()
    options: dict[str, Any] = {}
    if tls_context is not None:
        options.update(tls_context=tls_context, require_starttls=True)
    if login is not None:
        options.update(auth_required=True, authenticator=authenticate)
        options.update(auth_require_tls=tls_context is not None)
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@contextmanager
def running_server(env: dict[str, str], workers: int = 1, timeout: float = 30.0) -> Iterator[str]:
    """A real ``crm-graph serve`` process on a free loopback port; yields its base URL.

    Unless ``env`` sets ``CRM_JWT_SECRET``, the server accepts :func:`auth_headers` tokens
    (and it signs link tokens with a test ``CRM_SECRET_KEY`` unless ``env`` sets one);
    unless it sets ``CRM_RATE_LIMIT_PER_MINUTE`` or ``CRM_AUTH_FAILURES_PER_MINUTE``, it
    does not rate-limit.
    """
    with server_process(env, workers, timeout) as (url, _process):
        yield url


@contextmanager
def server_process(
    env: dict[str, str],
    workers: int = 1,
    timeout: float = 30.0,
    args: Sequence[str] = (),
    log: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Like :func:`running_server`, also yielding the process (to SIGKILL it in a test);
    ``args`` are more options of ``crm-graph serve`` (``--no-scheduler``).

    Its output goes to a temporary file (or to ``log``, for the test to read), so a chatty
    server never blocks on a full pipe.
    """
    port = free_port()
    with log.open("w+b") if log is not None else tempfile.TemporaryFile() as output:
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
                *args,
            ],
            env={
                **os.environ,
                "CRM_JWT_SECRET": TEST_JWT_SECRET,
                "CRM_SECRET_KEY": TEST_SECRET_KEY,
                "CRM_RATE_LIMIT_PER_MINUTE": "0",
                "CRM_AUTH_FAILURES_PER_MINUTE": "0",
                **env,
            },
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        try:
            while True:
                if process.poll() is not None:
                    output.seek(0)
                    raise RuntimeError(
                        f"server exited with {process.returncode}:\n{output.read().decode()}"
                    )
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"server did not answer on {url} within {timeout}s")
                time.sleep(0.1)
            yield url, process
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
    """Yield each ``next`` payload of a subscription over graphql-transport-ws.

    ``payload`` is the connection_init payload; by default it carries an admin token.
    """
    if payload is None:
        payload = {"Authorization": f"Bearer {admin_token()}"}
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
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
