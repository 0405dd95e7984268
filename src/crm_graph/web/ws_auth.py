"""WebSocket authentication (graphql-transport-ws), per-caller throttling of operations, and
the send path of event answers shared between sockets (:mod:`crm_graph.schema.fanout`).

Browsers cannot set headers on a WebSocket, so the credential travels in the
``connection_init`` payload as ``{"Authorization": "Bearer <key or token>"}`` (``{"token":
"<key or token>"}`` works too); an ``Authorization`` header on the upgrade request is accepted
as well. A socket without valid credentials is closed with 4403 before any operation runs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from starlette.websockets import WebSocketDisconnect
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)

from crm_graph.auth.authenticate import Authenticator
from crm_graph.auth.principal import AuthError
from crm_graph.schema.fanout import SINK, EncodedData, Sink, next_message
from crm_graph.web.http_auth import client_address, rate_limited_error
from crm_graph.web.websocket_protocol import SEND_TEXT_NOW


async def authenticate_socket(authenticator: Authenticator, context: Any) -> None:
    """Set ``context.principal`` from the connection_init payload, or reject the socket."""
    params = context.connection_params or {}
    header = params.get("Authorization") or params.get("authorization")
    token = params.get("token")
    if not header and isinstance(token, str):
        header = f"Bearer {token}"
    if not header and context.request is not None:
        header = context.request.headers.get("authorization")
    address = client_address(context.request.scope) if context.request is not None else "unknown"
    try:
        context.principal = await authenticator.from_header_at(
            header if isinstance(header, str) else None, address
        )
    except AuthError as exc:
        raise ConnectionRejectionError({"message": str(exc), "code": exc.code}) from exc


class ThrottledTransportWS(BaseGraphQLTransportWSHandler):
    """Each ``subscribe`` message re-checks the credential (a revoked key or an expired token
    closes the socket), takes a token from the caller's rate-limit bucket, and a socket holds
    at most ``CRM_MAX_SUBSCRIPTIONS_PER_SOCKET`` active operations. Answers shared between
    sockets are written as encoded once, never re-encoded per socket."""

    async def handle_subscribe(self, message: Any) -> None:
        principal = getattr(self.context, "principal", None)
        if principal is not None and self.connection_acknowledged:
            authenticator = self.view.authenticator  # type: ignore[attr-defined]
            if not await authenticator.still_valid(principal):
                await self.websocket.close(code=4403, reason="credentials expired or revoked")
                return
            cap = self.max_subscriptions_per_connection
            if cap is not None and len(self.operations) >= cap:
                error = {
                    "message": f"at most {cap} active subscriptions per connection",
                    "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS", "limit": cap},
                }
                await self._refuse(message, error)
                return
            wait = authenticator.limiter.acquire(principal.id)
            if wait:
                await self._refuse(message, rate_limited_error(wait))
                return
        await super().handle_subscribe(message)

    async def _refuse(self, message: Any, error: dict[str, Any]) -> None:
        await self.send_message({"id": message["id"], "type": "error", "payload": [error]})

    async def run_operation(self, operation: Operation[Any, Any]) -> None:
        ws = self.websocket.ws  # type: ignore[attr-defined]
        send_text_now = ws.scope.get("extensions", {}).get(SEND_TEXT_NOW)
        send_now = None
        if send_text_now is not None:
            send_now = partial(self._send_now, operation, send_text_now)
        SINK.set(Sink(partial(self._send_shared, operation), send_now))
        await super().run_operation(operation)

    def _send_now(
        self, operation: Operation[Any, Any], send_text_now: Callable[[str], bool], answer: str
    ) -> bool:
        return not operation.completed and send_text_now(next_message(operation.id, answer))

    async def _send_shared(self, operation: Operation[Any, Any], answer: str) -> None:
        if not operation.completed:
            try:
                await self.websocket.ws.send_text(next_message(operation.id, answer))  # type: ignore[attr-defined]
            except WebSocketDisconnect as exc:
                raise WebSocketDisconnected from exc

    async def send_message(self, message: Any) -> None:
        """A ``next`` message carrying a shared answer is written as it was encoded once."""
        payload = message.get("payload")
        data = payload.get("data") if message["type"] == "next" and len(payload) == 1 else None
        if isinstance(data, EncodedData):
            await self._send_shared(self.operations[message["id"]], data.json)
        else:
            await super().send_message(message)
