"""Plugin HTTP routes (``crm_routes``): served under ``/p/<plugin name>/`` with ``/graphql``'s
door (credentials, rate limits), body limit, CORS policy and error handling, on both databases.
The example plugin's voucher and account routes are tested in its own tests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse
from typer.testing import CliRunner

from crm_graph.cli import app as cli_app
from crm_graph.plugin import (
    AUTHENTICATED,
    PUBLIC,
    Permissions,
    PluginMetadata,
    PluginRoute,
    RouteContext,
    hookimpl,
)
from crm_graph.plugins_manager import PluginError
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client
from crm_graph.web.app import create_app

LEAK = "password=hunter2 in SELECT secret FROM vault"
ORIGIN = "https://app.example.com"


async def echo(request: Request, context: RouteContext) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"size": len(body), "caller": context.principal is not None})


async def whoami(_request: Request, context: RouteContext) -> JSONResponse:
    assert context.principal is not None
    return JSONResponse({"caller": context.principal.id, "requestId": context.request_id})


async def explode(_request: Request, _context: RouteContext) -> JSONResponse:
    raise RuntimeError(LEAK)


class ProbePlugin:
    """Routes of every kind: public, any caller, a permission of its own, a failing one."""

    def __init__(self, routes: list[PluginRoute] | None = None) -> None:
        self.routes = routes

    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="probe", version="1.0")

    @hookimpl
    def crm_permissions(self) -> Permissions:
        return Permissions(declare={"probe:read": "Read the probe."})

    @hookimpl
    def crm_routes(self) -> list[PluginRoute]:
        if self.routes is not None:
            return self.routes
        return [
            PluginRoute("/echo", echo, PUBLIC, ("POST",)),
            PluginRoute("/whoami", whoami, AUTHENTICATED),
            PluginRoute("/secret/{name}", whoami, "probe:read"),
            PluginRoute("/explode", explode, AUTHENTICATED, ("GET", "POST")),
        ]


async def _probe(settings: Settings, **changes: Any) -> AsyncIterator[GraphQLClient]:
    async with app_client(settings.model_copy(update=changes), plugins=[ProbePlugin()]) as client:
        yield client


@pytest.fixture
async def probe(settings: Settings) -> AsyncIterator[GraphQLClient]:
    async for client in _probe(settings):
        yield client


async def test_routes_answer_under_the_plugin_prefix_only(probe: GraphQLClient) -> None:
    echoed = await probe.http.post("/p/probe/echo", content=b"hello", headers={"Authorization": ""})
    assert echoed.status_code == 200
    assert echoed.json() == {"size": 5, "caller": False}
    assert echoed.headers["x-request-id"]

    me = await probe.http.get("/p/probe/whoami", headers={"X-Request-Id": "req-42"})
    assert me.json() == {"caller": "user:test-admin", "requestId": "req-42"}
    assert me.headers["x-request-id"] == "req-42"

    for outside in ("/echo", "/p/echo", "/p/other/echo", "/p/probe/../echo"):
        assert (await probe.http.post(outside)).status_code in (404, 405), outside
    assert (await probe.http.get("/p/probe/echo")).status_code == 405


async def test_credentials_are_required_unless_public_and_permissions_are_checked(
    probe: GraphQLClient,
) -> None:
    missing = await probe.http.get("/p/probe/whoami", headers={"Authorization": ""})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    forged = await probe.http.get("/p/probe/whoami", headers={"Authorization": "Bearer a.b.c"})
    assert forged.status_code == 401

    assert (await probe.http.get("/p/probe/secret/x")).status_code == 200  # admin holds all
    readonly = probe.acting_as("readonly", "rita")
    refused = await readonly.http.get("/p/probe/secret/x", headers=readonly.headers)
    assert refused.status_code == 403
    assert refused.json() == {
        "data": None,
        "errors": [
            {
                "message": "this needs the permission 'probe:read'",
                "extensions": {"code": "FORBIDDEN"},
            }
        ],
    }
    allowed = await readonly.http.get("/p/probe/whoami", headers=readonly.headers)
    assert allowed.json()["caller"] == "user:rita"


async def test_the_body_limit_applies(settings: Settings) -> None:
    async for client in _probe(settings, max_body_bytes=100):
        assert (await client.http.post("/p/probe/echo", content=b"x" * 100)).status_code == 200
        declared = await client.http.post("/p/probe/echo", content=b"x" * 101)
        assert declared.status_code == 413
        assert declared.json()["errors"][0]["extensions"]["code"] == "BODY_TOO_LARGE"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as received
            for _ in range(5):
                yield b"x" * 60

        streamed = await client.http.post("/p/probe/echo", content=chunks())
        assert streamed.status_code == 413


async def test_public_routes_are_rate_limited_per_client_address(settings: Settings) -> None:
    async for client in _probe(settings, rate_limit_burst=2, rate_limit_per_minute=60):
        anonymous = {"Authorization": ""}
        answers = [await client.http.post("/p/probe/echo", headers=anonymous) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[-1].json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert answers[-1].headers["retry-after"] == "1"
        # A caller with a credential has a bucket of its own, shared with /graphql.
        assert [(await client.http.get("/p/probe/whoami")).status_code for _ in range(2)] == [
            200,
            200,
        ]
        assert (await client.execute("{ viewer { id } }"))["errors"][0]["extensions"][
            "code"
        ] == "RATE_LIMITED"


async def test_cors_preflight_behaves_as_for_graphql(settings: Settings) -> None:
    async for client in _probe(settings, cors_origins=[ORIGIN]):
        for origin, status in ((ORIGIN, 200), ("https://evil.example.net", 400)):
            headers = {
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, authorization",
            }
            answers = [
                await client.http.options(path, headers=headers)
                for path in ("/graphql", "/p/probe/echo")
            ]
            assert [a.status_code for a in answers] == [status, status]
            assert answers[0].headers == answers[1].headers
        simple = await client.http.post("/p/probe/echo", headers={"Origin": ORIGIN})
        assert simple.headers["access-control-allow-origin"] == ORIGIN


async def test_an_unexpected_exception_answers_internal_error_with_an_id_only(
    probe: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    answer = await probe.http.post("/p/probe/explode")
    assert answer.status_code == 500
    [error] = answer.json()["errors"]
    assert set(error["extensions"]) == {"code", "id"}
    assert error["extensions"]["code"] == "INTERNAL_ERROR"
    assert "hunter2" not in answer.text and "RuntimeError" not in answer.text
    [logged] = [r for r in caplog.records if error["extensions"]["id"] in r.getMessage()]
    assert logged.name == "crm_graph.errors"
    assert LEAK in logged.getMessage() and "/p/probe/explode" in logged.getMessage()
    assert logged.exc_info is not None


async def _route(_request: Request, _context: RouteContext) -> JSONResponse:
    return JSONResponse({})


@pytest.mark.parametrize(
    ("route", "complaint"),
    [
        (PluginRoute("../graphql", _route, PUBLIC), "must start with '/'"),
        (PluginRoute("/a/../../graphql", _route, PUBLIC), "stay under /p/probe/"),
        (PluginRoute("/a//b", _route, PUBLIC), "stay under /p/probe/"),
        (PluginRoute("/a?b=1", _route, PUBLIC), "stay under /p/probe/"),
        (PluginRoute("/a", _route, PUBLIC, ("DELETE",)), "methods must be GET and/or POST"),
        (PluginRoute("/a", _route, "probe:write"), "'probe:write', which nobody declares"),
    ],
)
def test_startup_refuses_a_route_that_leaves_its_prefix_or_is_unclear(
    tmp_path: Path, route: PluginRoute, complaint: str
) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", plugins=[])
    with pytest.raises(PluginError) as refused:
        create_app(settings, plugins=[ProbePlugin([route])])
    assert "plugin 'probe'" in str(refused.value) and complaint in str(refused.value)


def test_startup_refuses_a_route_declared_twice(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", plugins=[])
    twice = [PluginRoute("/a", _route, PUBLIC, ("GET", "POST")), PluginRoute("/a", _route, PUBLIC)]
    with pytest.raises(PluginError, match="route '/a' is declared twice for GET"):
        create_app(settings, plugins=[ProbePlugin(twice)])


def test_production_refuses_to_start_without_a_secret_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(RuntimeError, match="CRM_SECRET_KEY is required in production"):
        create_app(Settings(database_url=url, env="production", plugins=[]), plugins=[])
    secret = "s" * 40
    caplog.set_level(logging.DEBUG)
    production = Settings(database_url=url, env="production", secret_key=SecretStr(secret))
    create_app(production, plugins=[])
    assert secret not in caplog.text


def test_crm_graph_serve_in_production_stops_without_a_secret_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[object] = []
    monkeypatch.setattr("crm_graph.cli.uvicorn.run", lambda *args, **kwargs: served.append(args))
    env = {
        "CRM_ENV": "production",
        "CRM_SECRET_KEY": None,
        "CRM_PLUGINS": "",
        "CRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
    }
    result = CliRunner().invoke(cli_app, ["serve"], env=env)
    assert result.exit_code == 2
    assert "CRM_SECRET_KEY is required in production" in " ".join(result.output.split())
    assert served == []
    env["CRM_SECRET_KEY"] = "k" * 40
    assert CliRunner().invoke(cli_app, ["serve"], env=env).exit_code == 0
    assert len(served) == 1
