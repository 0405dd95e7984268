"""Queries over HTTP POST answered by the compiled read path, the rest by strawberry.

Inside the authentication door (it needs the caller), on the request's connection the door
checked the credential on: one connection and one read transaction per request. A request
strawberry answers gives that connection back first (it opens sessions of its own). The
response says which path served it: ``Server-Timing: plan;desc="compiled"`` or
``plan;desc="fallback"``.
"""

from __future__ import annotations

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
        if scope["type"] != "http" or scope["method"] != "POST" or self.planner is None:
            await self._fallback(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return
        answer = await self._answer(scope, body)
        if answer is not None:
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
            return
        await self._fallback(scope, replaying(body, receive), send)

    async def _answer(self, scope: Scope, body: bytes) -> bytes | None:
        state = scope.get("state") or {}
        principal = state.get("principal")
        content_type = header(scope, b"content-type")
        if (
            principal is None
            or not content_type
            or not content_type.startswith(b"application/json")
        ):
            return None
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(request, dict):
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
