"""Queries over HTTP (POST with a JSON body, or GET with the GraphQL-over-HTTP query
parameters, as single-page apps' clients send them) answered by the compiled read path, the
rest by strawberry.

Inside the authentication door (it needs the caller), on the request's connection the door
checked the credential on: one connection and one read transaction per request. A request
strawberry answers gives that connection back first (it opens sessions of its own). The
response says which path served it: ``Server-Timing: plan;desc="compiled"`` or
``plan;desc="fallback"``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_graph.schema.planner.serve import Planner
from crm_graph.web.http_auth import release_connection
from crm_graph.web.idempotency import read_body, replaying
from crm_graph.web.middleware import header

COMPILED = (b"server-timing", b'plan;desc="compiled"')
FALLBACK = (b"server-timing", b'plan;desc="fallback"')


class CompiledReads:
    def __init__(self, app: ASGIApp, planner: Planner | None) -> None:
        self.app = app
        self.planner = planner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.planner is None:
            await self._fallback(scope, receive, send)
            return
        if scope["method"] == "GET":
            request = _parameters(scope["query_string"])
            answer = None if request is None else await self._planned(scope, request)
            if answer is None:
                await self._fallback(scope, receive, send)
            else:
                await _send(send, answer)
            return
        if scope["method"] != "POST":
            await self._fallback(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return
        answer = await self._answer(scope, body)
        if answer is not None:
            await _send(send, answer)
            return
        await self._fallback(scope, replaying(body, receive), send)

    async def _answer(self, scope: Scope, body: bytes) -> bytes | None:
        content_type = header(scope, b"content-type")
        if not content_type or not content_type.startswith(b"application/json"):
            return None
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(request, dict):
            return None
        return await self._planned(scope, request)

    async def _planned(self, scope: Scope, request: dict[str, Any]) -> bytes | None:
        state = scope.get("state") or {}
        principal = state.get("principal")
        if principal is None:
            return None
        lease = state.get("connection")
        return await self.planner.answer(  # type: ignore[union-attr]
            request, principal, Request(scope), lease
        )

    async def _fallback(self, scope: Scope, receive: Receive, send: Send) -> None:
        await release_connection(scope)

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), FALLBACK]}
            await send(message)

        await self.app(scope, receive, marked if scope["type"] == "http" else send)


def _parameters(query_string: bytes) -> dict[str, Any] | None:
    """A GET request's ``query``, ``operationName`` and ``variables`` (JSON); None where
    strawberry must answer (no query, variables that are not a JSON object)."""
    given = dict(parse_qsl(query_string.decode("latin-1")))
    if "query" not in given:
        return None
    request: dict[str, Any] = {"query": given["query"], "operationName": given.get("operationName")}
    if "variables" in given:
        try:
            request["variables"] = orjson.loads(given["variables"])
        except orjson.JSONDecodeError:
            return None
    return request


async def _send(send: Send, answer: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(answer)).encode()),
                COMPILED,
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer})
