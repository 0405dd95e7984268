"""The ``Idempotency-Key`` header on mutations over HTTP (the rules: domain/idempotency.py).

A client that lost the answer to a mutation (a dropped connection, a timeout) sends it again
with the same key and gets the first answer back, marked ``Idempotent-Replayed: true``, instead
of a second write. Keys belong to the credential that sent them. Queries, and requests without
the header, pass straight through; so does a body that is not one JSON GraphQL request (the
endpoint refuses it).
"""

from __future__ import annotations

from typing import Any

import orjson
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_graph.domain.idempotency import (
    MAX_KEY_LENGTH,
    claim,
    fingerprint,
    release,
    store,
    valid_key,
)
from crm_graph.web.http_auth import release_connection, send_error
from crm_graph.web.middleware import header

REFUSALS = {
    "in_progress": (
        409,
        "IDEMPOTENCY_KEY_IN_PROGRESS",
        "a request with this Idempotency-Key is still in progress; retry when it has finished",
    ),
    "reused": (
        422,
        "IDEMPOTENCY_KEY_REUSED",
        "this Idempotency-Key was used with another request in the last 24 hours; use a new key",
    ),
}


def is_mutation(request: Any, max_tokens: int) -> bool:
    """Whether the request runs a mutation (the operation ``operationName`` picks)."""
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        return False
    try:
        document = parse(request["query"], max_tokens=max_tokens, no_location=True)
    except (GraphQLError, RecursionError):
        return False
    name = request.get("operationName")
    chosen = [
        node
        for node in document.definitions
        if isinstance(node, OperationDefinitionNode)
        and (name is None or (node.name is not None and node.name.value == name))
    ]
    return len(chosen) == 1 and chosen[0].operation == OperationType.MUTATION


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body, or ``None`` if the client left before sending it."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app a body already read, then the client's messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class Idempotent:
    """ASGI wrapper of the GraphQL endpoint, inside the authentication door (it needs the
    caller)."""

    def __init__(self, app: ASGIApp, engine: AsyncEngine, max_tokens: int) -> None:
        self.app = app
        self.engine = engine
        self.max_tokens = max_tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_key = header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if raw_key is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1")
        body = await read_body(receive)
        if body is None:
            return
        await release_connection(scope)  # claims and stores use connections of their own
        replay_body = replaying(body, receive)
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            request = None
        if not is_mutation(request, self.max_tokens):
            await self.app(scope, replay_body, send)
            return
        if not valid_key(key):
            message = f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
            await send_error(
                send,
                400,
                {"message": message, "extensions": {"code": "IDEMPOTENCY_KEY_INVALID"}},
                [],
            )
            return
        caller = scope["state"]["principal"].id
        found = await claim(self.engine, caller, key, fingerprint(request))
        if found.outcome == "replay":
            await _replay(send, found.status or 200, found.content_type, found.body or b"")
        elif found.outcome != "run":
            status, code, message = REFUSALS[found.outcome]
            await send_error(send, status, {"message": message, "extensions": {"code": code}}, [])
        else:
            await self._run(scope, replay_body, send, caller, key)

    async def _run(self, scope: Scope, receive: Receive, send: Send, caller: str, key: str) -> None:
        """Run the request and keep its response; a failure (no complete response, or a 5xx)
        gives the key back, so a retry runs instead of replaying the failure."""
        status = 500
        content_type: str | None = None
        chunks: list[bytes] = []
        complete = False

        async def keep(message: Message) -> None:
            nonlocal status, content_type, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                content_type = Headers(raw=message.get("headers", [])).get("content-type")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        try:
            await self.app(scope, receive, keep)
        finally:
            if complete and status < 500:
                await store(self.engine, caller, key, status, content_type, b"".join(chunks))
            else:
                await release(self.engine, caller, key)


async def _replay(send: Send, status: int, content_type: str | None, body: bytes) -> None:
    headers = [
        (b"content-length", str(len(body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    if content_type is not None:
        headers.append((b"content-type", content_type.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
