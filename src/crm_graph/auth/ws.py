"""WebSocket authentication (graphql-transport-ws) and per-caller throttling of operations.

Browsers cannot set headers on a WebSocket, so the credential travels in the
``connection_init`` payload as ``{"Authorization": "Bearer <key or token>"}`` (``{"token":
"<key or token>"}`` works too); an ``Authorization`` header on the upgrade request is accepted
as well. A socket without valid credentials is closed with 4403 before any operation runs.
"""

from __future__ import annotations

from typing import Any

from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from crm_graph.auth.authenticate import Authenticator
from crm_graph.auth.http import rate_limited_error
from crm_graph.auth.principal import AuthError


async def authenticate_socket(authenticator: Authenticator, context: Any) -> None:
    """Set ``context.principal`` from the connection_init payload, or reject the socket."""
    params = context.connection_params or {}
    header = params.get("Authorization") or params.get("authorization")
    token = params.get("token")
    if not header and isinstance(token, str):
        header = f"Bearer {token}"
    if not header and context.request is not None:
        header = context.request.headers.get("authorization")
    try:
        context.principal = await authenticator.from_header(
            header if isinstance(header, str) else None
        )
    except AuthError as exc:
        raise ConnectionRejectionError({"message": str(exc), "code": exc.code}) from exc


class ThrottledTransportWS(BaseGraphQLTransportWSHandler):
    """Each ``subscribe`` message re-checks the credential (a revoked key or an expired token
    closes the socket), takes a token from the caller's rate-limit bucket, and a socket holds
    at most ``CRM_MAX_SUBSCRIPTIONS_PER_SOCKET`` active operations."""

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
