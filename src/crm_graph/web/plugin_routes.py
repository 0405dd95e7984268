"""Plugins' HTTP routes (``crm_routes``), served under ``/p/<plugin name>/``.

Each route passes through the same door as ``/graphql`` (401 without a valid credential, rate
limits, a request id; public routes are limited per client address) and the app's middleware
(body limit, CORS). What the endpoint raises is answered as ``/graphql`` answers it: a
``RouteError``, a refused link token or the domain's user errors (400, each with its code and
field path) with their codes, anything else with ``INTERNAL_ERROR`` and
an error id, the exception logged under that id and never shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response
from starlette.types import ASGIApp

from crm_graph.auth.declare import AUTHENTICATED
from crm_graph.auth.link_tokens import TokenRefused
from crm_graph.auth.scope import acting_as
from crm_graph.contributions import PUBLIC, PluginRoute, RouteContext, RouteError
from crm_graph.domain.errors import ValidationFailed
from crm_graph.plugins_manager import PluginError
from crm_graph.runtime import AppContext
from crm_graph.schema.errors import INTERNAL_ERROR, INTERNAL_MESSAGE, log_unexpected
from crm_graph.web.http_auth import error_document
from crm_graph.web.middleware import BodyTooLarge

PREFIX = "/p/{plugin}"
METHODS = frozenset({"GET", "POST"})  # what the CORS policy allows, as for /graphql
# A path under the prefix: segments of safe characters or {parameters}; no "." or ".." segment.
SEGMENT = re.compile(r"^(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*|\{[A-Za-z_][A-Za-z0-9_]*(?::\w+)?\})$")

Door = Callable[..., ASGIApp]


def error_response(status: int, code: str, message: str, **extensions: Any) -> Response:
    error = {"message": message, "extensions": {"code": code, **extensions}}
    return Response(error_document(error), status, media_type="application/json")


def invalid_input(failed: ValidationFailed) -> Response:
    """400 with every user error of the domain rules, each with its code and field path."""
    errors = [
        {"message": e.message, "extensions": {"code": e.code, "field": e.field}}
        for e in failed.errors
    ]
    return Response(error_document(*errors), 400, media_type="application/json")


def _within_prefix(path: str) -> bool:
    return path == "/" or (
        path.startswith("/") and all(SEGMENT.match(s) for s in path[1:].split("/"))
    )


def _check(plugin: str, route: Any, app: AppContext, seen: set[tuple[str, str]]) -> None:
    where = f"plugin {plugin!r}: route {getattr(route, 'path', route)!r}"
    if not isinstance(route, PluginRoute):
        raise PluginError(f"plugin {plugin!r}: crm_routes must return a list of PluginRoute")
    if not _within_prefix(route.path):
        raise PluginError(
            f"{where} must start with '/' and stay under /p/{plugin}/ (no '.', '..', '//', "
            "query or escapes)"
        )
    if not route.methods or not set(route.methods) <= METHODS:
        raise PluginError(f"{where}: methods must be GET and/or POST, not {route.methods!r}")
    known = route.permission in (PUBLIC, AUTHENTICATED) or (
        route.permission in app.auth.policy.permissions
    )
    if not known:
        raise PluginError(
            f"{where} needs the permission {route.permission!r}, which nobody declares"
        )
    for method in route.methods:
        if (method, route.path) in seen:
            raise PluginError(f"{where} is declared twice for {method}")
        seen.add((method, route.path))


def _endpoint(plugin: str, route: PluginRoute, app: AppContext) -> ASGIApp:
    where = f"route {' '.join(route.methods)} /p/{plugin}{route.path}"

    async def run(request: Request) -> Response:
        principal = request.state.principal
        context = RouteContext(app, principal, request.state.request_id)
        try:
            if route.permission not in (PUBLIC, AUTHENTICATED):
                context.require(route.permission)
            # Ownership scopes apply to what a caller's route reads; a public route (no
            # caller) reads as the system does, limited by what its token names.
            with acting_as(principal):
                response = await route.endpoint(request, context)
            if not isinstance(response, Response):
                raise TypeError(f"the endpoint returned {type(response).__name__}, not a Response")
            return response
        except BodyTooLarge:
            raise  # answered 413 by the middleware
        except RouteError as exc:
            return error_response(exc.status, exc.code, str(exc))
        except TokenRefused as exc:
            return error_response(exc.status, exc.code, str(exc))
        except ValidationFailed as exc:
            return invalid_input(exc)
        except Exception as exc:
            error_id = log_unexpected(exc, f"{where} of plugin {plugin!r}")
            return error_response(500, INTERNAL_ERROR, INTERNAL_MESSAGE, id=error_id)

    return request_response(run)


def plugin_routes(app: AppContext, door: Door) -> list[Route]:
    """Every enabled plugin's routes under its prefix, checked (see ``crm_routes``)."""
    routes = []
    for plugin, contributed in app.plugins.each(app.plugins.hook.crm_routes):
        seen: set[tuple[str, str]] = set()
        for route in contributed or []:
            _check(plugin, route, app, seen)
            endpoint = door(_endpoint(plugin, route, app), public=route.permission == PUBLIC)
            path = PREFIX.format(plugin=plugin) + route.path
            routes.append(Route(path, endpoint, methods=list(route.methods)))
    return routes
