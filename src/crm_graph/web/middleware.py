"""ASGI middleware: refuse request bodies over the configured size before reading them all;
send ``/graphql`` straight to its endpoint."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of the request header ``name`` (lower case), without building a
    mapping of them all."""
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


class BodyTooLarge(Exception):
    """Raised inside the app when the body grows past the limit."""


class BodySizeLimit:
    """413 when Content-Length, or the bytes actually received, exceed ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "errors": [
                    {
                        "message": f"request body exceeds {self.max_bytes} bytes",
                        "extensions": {"code": "BODY_TOO_LARGE"},
                    }
                ]
            }
        ).encode()
        headers: list[Any] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Direct:
    """HTTP GET and POST requests of ``path`` go straight to ``endpoint``, past Starlette's
    exception middleware and router (route matching, a scope copy and a send wrapper per
    request, for nothing: the endpoint answers its own errors). Everything else, HEAD and
    other methods of ``path`` (405) and its WebSocket included, goes to the router as
    before. The innermost of the user middleware: the outer layers (server errors, body
    size, CORS, proxy headers) still apply."""

    def __init__(self, app: ASGIApp, path: str, endpoint: ASGIApp) -> None:
        self.app = app
        self.path = path
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "POST")
            and scope["path"].removeprefix(scope.get("root_path", "")) == self.path
        ):
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)
