"""The Starlette application: /graphql (HTTP and WebSocket), /healthz, /plugins, the
plugins' routes under /p/<plugin name>/ and the web app's files under /app/."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import orjson
from cross_web import HTTPException
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute, request_response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from crm_graph import __version__
from crm_graph.auth.guard import AccessExtension, check_declarations
from crm_graph.domain.teams import seed_configured_teams
from crm_graph.events.webhooks.targets import Resolve
from crm_graph.runtime import AppContext, build_app
from crm_graph.schema.build import ComposedSchema, build_schema
from crm_graph.schema.commits import ReportCommits
from crm_graph.schema.context import RequestContext
from crm_graph.schema.limits import limit_extensions
from crm_graph.schema.planner.serve import Planner
from crm_graph.settings import Settings
from crm_graph.web.compiled import CompiledReads
from crm_graph.web.graphiql import graphiql_page, graphiql_routes
from crm_graph.web.http_auth import Authenticated
from crm_graph.web.idempotency import Idempotent
from crm_graph.web.middleware import BodySizeLimit, Direct
from crm_graph.web.plugin_routes import plugin_routes
from crm_graph.web.web_app import web_app_routes
from crm_graph.web.ws_auth import ThrottledTransportWS, authenticate_socket


class GraphQLEndpoint(GraphQL):
    """strawberry's ASGI view with our per-request context."""

    def __init__(self, schema: ComposedSchema, app: AppContext) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if app.settings.exposes_schema else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=app.settings.max_subscriptions_per_socket,
        )
        self.app_context = app
        self.authenticator = app.auth

    graphql_transport_ws_handler_class = ThrottledTransportWS

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from the files this package ships, not from a CDN."""
        return graphiql_page()

    async def on_ws_connect(self, context: RequestContext) -> UnsetType:
        """A WebSocket authenticates in its connection_init payload, or is closed (4403)."""
        await authenticate_socket(self.authenticator, context)
        return UNSET

    def parse_json(self, data: str | bytes) -> Any:
        """Only a JSON object (or an array, refused later as a batch) is a GraphQL request.

        strawberry lets bodies like ``"x"`` or ``42`` through to code that expects an object,
        and lets a pathologically nested array raise RecursionError: both must be a 400.
        """
        try:
            parsed = _loads(data)
        except (ValueError, RecursionError) as exc:
            raise HTTPException(400, "the request body is not valid JSON") from exc
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "the request body must be a JSON object")
        return parsed

    async def get_context(
        self, request: Request | WebSocket, response: Any = None
    ) -> RequestContext:
        return RequestContext.create(self.app_context, request)


def _loads(data: str | bytes) -> Any:
    """orjson, and the standard reader for what orjson refuses but JSON allows (integers past
    64 bits, ``NaN``): those values reach the input checks, which refuse them with their field
    path (OUT_OF_RANGE) instead of a bare 400."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


async def _run_hooks(results: list[Any]) -> None:
    for result in results:
        if inspect.isawaitable(result):
            await result


def create_app(
    settings: Settings | None = None,
    plugins: Iterable[Any] | None = None,
    resolve: Resolve | None = None,
) -> Starlette:
    """Build one independent app: its own engine, plugin set and schema (no global state).

    ``plugins=None`` discovers installed plugins; pass a list to choose them (tests do).
    ``resolve`` replaces the system's name resolution for webhook targets.
    """
    settings = settings or Settings()
    context = build_app(settings, plugins, resolve)
    plugin_set, engine = context.plugins, context.engine
    limits = limit_extensions(settings)
    schema = build_schema(
        plugin_set,
        extensions=[*limits, AccessExtension, ReportCommits],
        suggestions=settings.exposes_schema,
    )
    check_declarations(schema, context.auth.policy)
    graphql = GraphQLEndpoint(schema, context)
    planner = (
        Planner(schema, context, limits, settings.plan_cache_size)
        if settings.compiled_reads
        else None
    )
    # /plugins names plugin versions (useful to an attacker): like the API, it needs a caller.
    door = partial(Authenticated, authenticator=context.auth, open_ide=settings.exposes_schema)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await seed_configured_teams(engine, settings.teams)
        await _run_hooks(plugin_set.hook.crm_startup(app=context))
        await context.events.start()
        if settings.scheduler:
            await context.scheduler.start()
        try:
            yield
        finally:
            await context.scheduler.stop()
            await context.events.stop()
            await _run_hooks(list(reversed(plugin_set.hook.crm_shutdown(app=context))))
            await engine.dispose()

    async def healthz(_request: Request) -> Response:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok", "version": __version__})

    async def plugins_endpoint(_request: Request) -> Response:
        return JSONResponse({"core": __version__, "plugins": plugin_set.describe()})

    graphql_http = door(
        Idempotent(CompiledReads(graphql, planner), engine, settings.max_query_tokens),
        keep_connection=True,
    )
    app = Starlette(
        routes=[
            Route("/graphql", graphql_http, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/plugins", door(request_response(plugins_endpoint))),
            *plugin_routes(context, door),
            *web_app_routes(settings.web_app_dir),
            *(graphiql_routes() if settings.exposes_schema else []),
        ],
        middleware=[
            # The client address (failed-authentication limits) comes from X-Forwarded-For
            # only when the peer is a configured proxy; crm-graph serve leaves it to us.
            *(
                [Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)]
                if settings.trusted_proxies
                else []
            ),
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes),
            # Without allowed origins there is nothing for CORS to answer: no layer at all.
            *(
                [
                    Middleware(
                        CORSMiddleware,
                        allow_origins=settings.cors_origins,
                        allow_methods=["GET", "POST"],
                        allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
                        expose_headers=["Idempotent-Replayed"],
                    )
                ]
                if settings.cors_origins
                else []
            ),
            Middleware(Direct, path="/graphql", endpoint=graphql_http),
        ],
        lifespan=lifespan,
    )
    app.state.crm = context
    app.state.schema = schema
    app.state.planner = planner
    return app
