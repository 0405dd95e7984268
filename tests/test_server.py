"""The HTTP surface of the app: health, plugin listing, GET queries, GraphiQL and CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from helpers import customer, snapshot

from crm_graph import __version__
from crm_graph.plugin import PluginMetadata, hookimpl
from crm_graph.settings import Settings
from crm_graph.testing import GraphQLClient, app_client

APP_ORIGIN, ADMIN_ORIGIN = "https://app.example.com", "https://admin.example.com"


class GreeterPlugin:
    """The smallest plugin: metadata only, so /plugins has something to show."""

    @hookimpl
    def crm_plugin_metadata(self) -> PluginMetadata:
        return PluginMetadata(name="greeter", version="2.3.4", description="Says hello.")


@asynccontextmanager
async def _app(
    settings: Settings, plugins: list[Any] | None = None, **changes: Any
) -> AsyncIterator[GraphQLClient]:
    async with app_client(settings.model_copy(update=changes), plugins=plugins or []) as client:
        yield client


async def test_healthz_plugins_and_no_cors_by_default(client: GraphQLClient) -> None:
    health = await client.http.get("/healthz", headers={"Authorization": ""})
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "version": __version__}
    plugins = await client.http.get("/plugins")
    assert plugins.status_code == 200
    assert plugins.json() == {"core": __version__, "plugins": []}
    no_cors = await client.http.post(
        "/graphql", json={"query": "{ customers { totalCount } }"}, headers={"Origin": APP_ORIGIN}
    )
    assert no_cors.status_code == 200
    assert "access-control-allow-origin" not in no_cors.headers, "no origins are configured"


async def test_plugins_lists_the_enabled_plugins(settings: Settings) -> None:
    async with _app(settings, [GreeterPlugin()]) as client:
        response = await client.http.get("/plugins")
    assert response.status_code == 200
    body = response.json()
    assert body["core"] == __version__
    [greeter] = body["plugins"]
    assert greeter["name"] == "greeter" and greeter["version"] == "2.3.4"
    assert greeter["description"] == "Says hello."
    assert "crm_plugin_metadata" in greeter["hooks"]


async def test_queries_over_get_but_never_mutations(client: GraphQLClient) -> None:
    ada = await customer(client, "Ada")
    response = await client.http.get(
        "/graphql",
        params={
            "query": "query($id: ID!) { customer(id: $id) { name } customers { totalCount } }",
            "variables": f'{{"id": "{ada["id"]}"}}',
        },
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"customer": {"name": "Ada"}, "customers": {"totalCount": 1}}

    before = await snapshot(client)
    for query in (
        'mutation { createCustomer(input: {name: "Mallory"}) { errors { code } } }',
        'mutation M { createCustomer(input: {name: "Mallory"}) { errors { code } } }',
        '{ customers { totalCount } } mutation M { createCustomer(input: {name: "M"}) { errors { code } } }',
    ):
        params = {"query": query, "operationName": "M"} if " M " in query else {"query": query}
        response = await client.http.get("/graphql", params=params)
        assert response.status_code in (400, 405), response.text
    assert await snapshot(client) == before


async def test_graphiql_in_development_only(settings: Settings) -> None:
    for env, served in (("development", True), ("production", False)):
        async with _app(settings, env=env) as client:
            response = await client.http.get(
                "/graphql", headers={"Accept": "text/html", "Authorization": ""}
            )
        is_page = response.status_code == 200 and "graphiql" in response.text.lower()
        assert is_page is served, (env, response.status_code, response.text[:200])


async def test_cors_origins_come_from_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_CORS_ORIGINS", f"{APP_ORIGIN}, {ADMIN_ORIGIN}")
    configured = Settings(database_url=settings.database_url, plugins=[], env="test")
    assert configured.cors_origins == [APP_ORIGIN, ADMIN_ORIGIN]
    async with _app(configured) as client:
        for origin in (APP_ORIGIN, ADMIN_ORIGIN):
            preflight = await client.http.options(
                "/graphql",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type, authorization",
                },
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == origin
            allowed = preflight.headers["access-control-allow-headers"].lower()
            assert "authorization" in allowed and "content-type" in allowed
            simple = await client.http.post(
                "/graphql",
                json={"query": "{ customers { totalCount } }"},
                headers={"Origin": origin},
            )
            assert simple.headers["access-control-allow-origin"] == origin

        evil = "https://evil.example.net"
        refused = await client.http.options(
            "/graphql", headers={"Origin": evil, "Access-Control-Request-Method": "POST"}
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        response = await client.http.post(
            "/graphql", json={"query": "{ customers { totalCount } }"}, headers={"Origin": evil}
        )
        assert "access-control-allow-origin" not in response.headers
