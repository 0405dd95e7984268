"""The per-request context every resolver sees as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket

from crm_graph.auth.principal import Principal
from crm_graph.runtime import AppContext
from crm_graph.schema.loaders import Loaders


@dataclass
class RequestContext:
    app: AppContext
    request: Request | WebSocket | None
    loaders: Loaders
    plugin_state: dict[str, Any] = field(default_factory=dict)
    # The authenticated caller (crm_graph.auth): set by the HTTP door, or by a WebSocket's
    # connection_init (whose payload strawberry puts in connection_params).
    principal: Principal | None = None
    request_id: str | None = None
    connection_params: dict[str, Any] | None = None
    # Response keys of the mutations whose unit of work committed (crm_graph.schema.commits).
    committed: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, app: AppContext, request: Request | WebSocket | None) -> RequestContext:
        """Fresh loaders, then each plugin's ``crm_request_context`` contribution."""
        state = (request.scope.get("state") or {}) if request is not None else {}
        context = cls(
            app=app,
            request=request,
            loaders=Loaders(app.engine),
            principal=state.get("principal"),
            request_id=state.get("request_id"),
        )
        for name, state in app.plugins.each(app.plugins.hook.crm_request_context, context=context):
            context.plugin_state[name] = state
        return context
