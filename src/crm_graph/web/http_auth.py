"""The HTTP door: 401 without valid credentials, 429 over the rate limit or after too many
failed authentications from one client address, a request id.

Wraps the GraphQL endpoint, ``/plugins`` and plugin routes; ``/healthz`` stays public for load
balancers. A public plugin route passes through the same door without a credential, rate
limited per client address instead of per caller.
WebSocket connections pass through: they authenticate in ``connection_init`` (see app.py).
Errors have the GraphQL response shape, so clients handle them like any other error.
"""

from __future__ import annotations

import itertools
import math
import re
import secrets
from typing import Any

import orjson
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_graph.auth.authenticate import Authenticator, TooManyFailures
from crm_graph.auth.principal import AuthError
from crm_graph.db.engine import RequestConnection

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Request ids made here: 32 hex digits, a random half per process and a counter, unique across
# processes and restarts like a random UUID's, without a system call for randomness per request.
_PROCESS_ID = secrets.token_hex(8)
_REQUEST_NUMBER = itertools.count()


def new_request_id() -> str:
    return f"{_PROCESS_ID}{next(_REQUEST_NUMBER):016x}"


def rate_limited_error(wait: float, message: str | None = None) -> dict[str, Any]:
    return {
        "message": message or f"rate limit exceeded; retry after {wait:.2f} s",
        "extensions": {"code": "RATE_LIMITED", "retryAfter": round(wait, 3)},
    }


def client_address(scope: Scope) -> str:
    """The client's address as the server saw it (a trusted proxy's ``X-Forwarded-For`` has
    already replaced the proxy's own, see ``CRM_TRUSTED_PROXIES``)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


async def _too_many(
    send: Send, wait: float, message: str | None, echo: list[tuple[bytes, bytes]]
) -> None:
    retry = str(math.ceil(wait)).encode()
    await send_error(send, 429, rate_limited_error(wait, message), [(b"retry-after", retry), *echo])


def error_document(*errors: dict[str, Any]) -> bytes:
    """The body of every error answered outside GraphQL's own responses: GraphQL's shape."""
    return orjson.dumps({"data": None, "errors": list(errors)})


async def send_error(
    send: Send, status: int, error: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    """Answer ``status`` with one GraphQL-shaped error, before the GraphQL endpoint runs."""
    body = error_document(error)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def release_connection(scope: Scope) -> None:
    """Give the request's connection (see :class:`Authenticated`)
    back to the pool before work that opens its own."""
    lease = (scope.get("state") or {}).get("connection")
    if lease is not None:
        await lease.close()


class Authenticated:
    """ASGI wrapper putting ``principal`` and ``request_id`` into the request state.

    ``public``: no credential is asked for (``principal`` is None) and the rate limit applies
    per client address.

    The credential is checked on the request's one database connection
    (:class:`~crm_graph.db.engine.RequestConnection`); with ``keep_connection`` the app finds
    it as ``connection`` in the request state and the door gives it back after the app is
    done, else it is given back before the app runs.
    """

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        open_ide: bool,
        public: bool = False,
        keep_connection: bool = False,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.open_ide = open_ide
        self.public = public
        self.keep_connection = keep_connection

    def _is_ide_page(self, scope: Scope, headers: Headers) -> bool:
        """GraphiQL's HTML page holds no data; its requests send their own credentials."""
        return (
            self.open_ide
            and scope["method"] == "GET"
            and "text/html" in headers.get("accept", "")
            and "query" not in QueryParams(scope.get("query_string", b""))
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.open_ide and self._is_ide_page(scope, Headers(scope=scope)):
            await self.app(scope, receive, send)
            return
        authorization = given = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = authorization or value
            elif name == b"x-request-id":
                given = given or value
        request_id = (
            given.decode("latin-1")
            if given is not None and REQUEST_ID.match(given.decode("latin-1"))
            else new_request_id()
        )
        echo = [(b"x-request-id", request_id.encode())]
        lease = RequestConnection(self.authenticator.engine)
        try:
            await self._enter(
                scope,
                receive,
                send,
                None if authorization is None else authorization.decode("latin-1"),
                echo,
                request_id,
                lease,
            )
        finally:
            await lease.close()

    async def _enter(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        authorization: str | None,
        echo: list[tuple[bytes, bytes]],
        request_id: str,
        lease: RequestConnection,
    ) -> None:
        principal = None
        if not self.public:
            try:
                principal = await self.authenticator.from_header_at(
                    authorization, client_address(scope), lease
                )
            except TooManyFailures as exc:
                await _too_many(send, exc.retry_after, str(exc), echo)
                return
            except AuthError as exc:
                error = {"message": str(exc), "extensions": {"code": exc.code}}
                await send_error(send, 401, error, [(b"www-authenticate", b"Bearer"), *echo])
                return
        caller = principal.id if principal else f"address:{client_address(scope)}"
        wait = self.authenticator.limiter.acquire(caller)
        if wait:
            await _too_many(send, wait, None, echo)
            return
        state = scope.setdefault("state", {})
        state["principal"] = principal
        state["request_id"] = request_id
        if self.keep_connection:
            state["connection"] = lease
        else:
            await lease.close()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *echo]}
            await send(message)

        await self.app(scope, receive, send_with_id)
